'use strict';
const assert = require('assert');
const nadir = require('..');
const { native } = require('../dist/binding');
const { rng, atEachLevel, simdLevels, maxAbsDiff } = require('./helpers');

describe('SIMD kernels', () => {
  it('reports detected and active levels, and can force the scalar path', () => {
    const info = nadir.simdInfo();
    assert.ok(['scalar', 'avx2', 'avx512'].includes(info.detected));
    assert.strictEqual(nadir.setSimd('scalar'), 'scalar');
    assert.strictEqual(nadir.simdInfo().active, 'scalar');
    nadir.setSimd('auto');
    const forced = process.env.NADIR_FORCE_SCALAR && process.env.NADIR_FORCE_SCALAR !== '0';
    assert.strictEqual(nadir.simdInfo().active, forced ? 'scalar' : info.detected);
    assert.throws(() => nadir.setSimd('sse9'), /Expected 'auto', 'scalar', 'avx2' or 'avx512'/);
  });

  it('NADIR_FORCE_SCALAR=1 selects the scalar path at startup', () => {
    const { execFileSync } = require('child_process');
    const out = execFileSync(process.execPath, ['-e', "console.log(require('.').simdInfo().active)"], {
      cwd: require('path').join(__dirname, '..'),
      env: { ...process.env, NADIR_FORCE_SCALAR: '1' },
    });
    assert.strictEqual(out.toString().trim(), 'scalar');
  });

  for (const n of [0, 1, 7, 31, 64, 100, 4097, 100003]) {
    it(`sum matches the scalar reference at every level (n=${n})`, async () => {
      const rand = rng(n + 1);
      const x = Float32Array.from({ length: n }, () => rand() * 2 - 1);
      const runs = await atEachLevel(() => native.sumF32(x));
      for (const r of runs) assert.ok(Math.abs(r.result - runs[0].result) < 1e-3 + 1e-6 * n, `${r.level}: ${r.result} vs ${runs[0].result}`);
    });
  }

  it('firstNonFinite finds NaN/Inf at any position at every level', async () => {
    for (const n of [1, 8, 15, 16, 17, 40, 1000]) {
      for (const pos of [0, n >> 1, n - 1]) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const x = new Float32Array(n).fill(1.5);
          x[pos] = bad;
          if (pos + 1 < n) x[n - 1] = NaN; // a later one must not be reported first
          const runs = await atEachLevel(() => native.firstNonFinite(x));
          for (const r of runs) assert.strictEqual(r.result, pos, `${r.level} n=${n} pos=${pos}`);
        }
      }
      const clean = new Float32Array(n).fill(3);
      for (const r of await atEachLevel(() => native.firstNonFinite(clean))) assert.strictEqual(r.result, -1);
    }
  });

  for (const cols of [1, 3, 8, 10, 16, 17, 33, 100]) {
    it(`reconstruction error: every level equals the scalar reference (cols=${cols})`, async () => {
      const rand = rng(cols);
      const rows = 37;
      const x = Float32Array.from({ length: rows * cols }, () => rand() * 4 - 2);
      const r = Float32Array.from({ length: rows * cols }, () => rand() * 4 - 2);
      for (const kind of ['squared', 'absolute']) {
        const runs = await atEachLevel(() => nadir.reconstructionError({ data: x, rows, cols }, { data: r, rows, cols }, { kind, contributions: true }));
        const ref = runs[0].result;
        // Reference computed independently in JS.
        for (let i = 0; i < rows; i++) {
          let s = 0;
          for (let j = 0; j < cols; j++) {
            const d = x[i * cols + j] - r[i * cols + j];
            const e = kind === 'squared' ? d * d : Math.abs(d);
            assert.ok(Math.abs(ref.contributions.data[i * cols + j] - e) < 1e-5);
            s += e;
          }
          assert.ok(Math.abs(ref.scores[i] - s) < 1e-4 * Math.max(1, s));
        }
        for (const run of runs) {
          assert.ok(maxAbsDiff(run.result.scores, ref.scores) < 1e-4 * cols, `${run.level} ${kind}`);
          assert.strictEqual(maxAbsDiff(run.result.contributions.data, ref.contributions.data), 0);
        }
      }
    });
  }

  it('reconstruction error rejects mismatched shapes and non-finite values', () => {
    assert.throws(() => nadir.reconstructionError([[1, 2]], [[1, 2, 3]]), /reconstruction/);
    assert.throws(() => nadir.reconstructionError([[1, 2]], [[1, NaN]]), /reconstruction contains NaN at row 0, column 1/);
    assert.throws(() => nadir.reconstructionError([[1, 2]], [[1, 2]], { kind: 'cubed' }), /'squared' or 'absolute'/);
  });

  it('native entry points reject wrong argument types with a named error', () => {
    assert.throws(() => native.reconError(new Float64Array(2), new Float32Array(2), 1, 2, 0, new Float32Array(1), null), /Expected Float32Array for x but received Float64Array/);
    assert.throws(() => native.reconError(new Float32Array(2), new Float32Array(2), 2, 2, 0, new Float32Array(2), null), /Expected 4 elements in x/);
    assert.throws(() => native.sumF32('abc'), /Expected Float32Array for x but received string/);
  });

  it('lists the levels the tests exercise', () => {
    assert.ok(simdLevels().includes('scalar'));
  });
});

describe('sortScores (radix sort of training scores)', () => {
  const same = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

  it('orders exactly as a typed-array sort, including -0, +-Infinity, subnormals, ties and NaN', () => {
    const special = [0, -0, Infinity, -Infinity, NaN, -NaN, 1e-45, -1e-45, 3.4e38, -3.4e38, 1, 1, -1, 0.5];
    const r = rng(5);
    for (const n of [0, 1, 2, 7, 1000, 70000]) {
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = i < special.length && n < 1000 ? special[i] : (r() - 0.5) * 10 ** Math.floor(r() * 12 - 6);
      if (n >= 1000) for (let i = 0; i < 50; i++) x[Math.floor(r() * n)] = special[i % special.length];
      const got = native.sortScores(x);
      assert.ok(got instanceof Float64Array);
      assert.ok(same(got, Float64Array.from(x).sort()), `n=${n}`);
    }
  });

  it('refuses what is not a Float32Array', () => {
    assert.throws(() => native.sortScores([1, 2]), /Float32Array/);
  });
});
