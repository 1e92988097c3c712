'use strict';
const path = require('path');
const nadir = require('..');

/** Mulberry32: small seeded PRNG for test data. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand) {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/**
 * Correlated Gaussian inliers plus scattered outliers. Returns { X: Matrix, labels: Uint8Array }.
 * Outliers are uniform in a box 4x wider than the inlier spread; inliers lie near a random low-rank subspace.
 */
function synthetic({ rows = 1000, cols = 8, outliers = 0.05, seed = 1, rank = 3 } = {}) {
  const rand = rng(seed);
  const W = Array.from({ length: rank }, () => Array.from({ length: cols }, () => gaussian(rand)));
  const data = new Float32Array(rows * cols);
  const labels = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    const isOut = rand() < outliers;
    labels[i] = isOut ? 1 : 0;
    if (isOut) {
      for (let j = 0; j < cols; j++) data[i * cols + j] = (rand() * 2 - 1) * 8;
    } else {
      const z = Array.from({ length: rank }, () => gaussian(rand));
      for (let j = 0; j < cols; j++) {
        let v = 0.3 * gaussian(rand);
        for (let k = 0; k < rank; k++) v += z[k] * W[k][j];
        data[i * cols + j] = v;
      }
    }
  }
  return { X: new nadir.Matrix(data, rows, cols), labels };
}

/** A dataset shipped in data/ (label column 'label'). */
function shipped(name) {
  const { X, labels } = nadir.readCsv(path.join(__dirname, 'fixtures', `${name}.csv`));
  return { X, labels: Uint8Array.from(labels) };
}

/** SIMD levels this CPU can run, lowest first. */
function simdLevels() {
  const order = ['scalar', 'avx2', 'avx512'];
  return order.slice(0, order.indexOf(nadir.simdInfo().detected) + 1);
}

/** Runs fn at each SIMD level, returns [{ level, result }], restoring 'auto' afterwards. */
async function atEachLevel(fn) {
  const out = [];
  try {
    for (const level of simdLevels()) {
      nadir.setSimd(level);
      out.push({ level, result: await fn(level) });
    }
  } finally {
    nadir.setSimd('auto');
  }
  return out;
}

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** max |a - b| / max(1, |b|): relative for large values, absolute near zero. */
function maxRelDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

function tmpFile(name) {
  const fs = require('fs');
  const os = require('os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nadir-test-'));
  return path.join(dir, name);
}

const CLI = path.join(__dirname, '..', 'dist', 'cli', 'index.js');

/** Runs the `nadir` command with args (stdin from opts.input, working directory opts.cwd). */
function runCli(args, opts = {}) {
  const { spawnSync } = require('child_process');
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd, input: opts.input, encoding: 'utf8', env: { ...process.env, NADIR_DEBUG: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A user error: non-zero exit, one line on stderr naming the problem, no stack trace. */
function assertUserError(r, pattern) {
  const assert = require('assert');
  assert.notStrictEqual(r.code, 0, `expected failure, got exit 0; stdout: ${r.out}`);
  assert.match(r.err, pattern);
  assert.strictEqual(r.err.trim().split('\n').length, 1, `stderr is not one line:\n${r.err}`);
  assert.doesNotMatch(r.err, /\n\s+at |internal error/);
}

module.exports = { rng, gaussian, synthetic, shipped, simdLevels, atEachLevel, maxAbsDiff, maxRelDiff, tmpFile, CLI, runCli, assertUserError };
