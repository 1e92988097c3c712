'use strict';
// Benchmark datasets: ../shared/data/<name>.csv relative to the repository (or $NADIR_DATA), read
// with nadir.readCsv; the label column is excluded from the features.
const fs = require('fs');
const path = require('path');

const repoRoot = path.join(__dirname, '..', '..');

/** $NADIR_DATA, else the first of ../shared/data, ../../shared/data (a worktree one level deeper) that exists. */
function dataDir() {
  if (process.env.NADIR_DATA) return path.resolve(process.env.NADIR_DATA);
  const candidates = [path.join(repoRoot, '..', 'shared', 'data'), path.join(repoRoot, '..', '..', 'shared', 'data')];
  return candidates.find((d) => fs.existsSync(d)) ?? candidates[0];
}

/** Loads a dataset or returns { missing: reason }. */
function loadDataset(nadir, name) {
  const file = path.join(dataDir(), `${name}.csv`);
  if (!fs.existsSync(file)) return { name, missing: `${file} not found (set NADIR_DATA to the folder holding ${name}.csv)` };
  const { X, labels } = nadir.readCsv(file, { label: 'label' });
  let anomalies = 0;
  for (const l of labels) anomalies += l > 0 ? 1 : 0;
  return { name, file, X, labels: Uint8Array.from(labels, (l) => (l > 0 ? 1 : 0)), anomalies };
}

/** Mulberry32: a small seeded PRNG in [0, 1). */
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

/** Seeded choice of k distinct row indices (sorted), for subsampling slow peers. */
function sampleRows(n, k, seed = 1) {
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  const rand = rng(seed);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return Array.from(idx.subarray(0, k)).sort((a, b) => a - b);
}

/** Seeded split of n rows: a shuffled `frac` to train, the rest to test (both sorted). */
function splitIndices(n, frac, seed) {
  const rand = rng(seed);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const cut = Math.round(frac * n);
  return { train: idx.slice(0, cut).sort((a, b) => a - b), test: idx.slice(cut).sort((a, b) => a - b) };
}

/** Rows of a Matrix as number[][] (what the JavaScript peers take). */
function toArrays(X, rows) {
  return rows.map((i) => Array.from(X.data.subarray(i * X.cols, (i + 1) * X.cols)));
}

module.exports = { repoRoot, dataDir, loadDataset, rng, sampleRows, splitIndices, toArrays };
