'use strict';
const assert = require('assert');
const nadir = require('..');
const { synthetic, shipped, tmpFile, rng, gaussian, atEachLevel } = require('./helpers');
const { ZToy, IdentityToy, realDetectors } = require('./toy-detectors');

const METHODS = ['ecdf', 'zscore', 'unify', 'minmax'];

/** Scores spanning well beyond the training range, ascending. */
function grid(lo, hi, n = 2001) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + ((hi - lo) * i) / (n - 1);
  return out;
}

function checkMonotoneUnit(det, train) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of train) { lo = Math.min(lo, s); hi = Math.max(hi, s); }
  const span = hi - lo || 1;
  const g = grid(lo - span, hi + span);
  for (const method of METHODS) {
    const c = det.normalize(g, method);
    for (let i = 0; i < c.length; i++) {
      assert.ok(c[i] >= 0 && c[i] <= 1, `${det.type} ${method}: ${c[i]} outside [0, 1]`);
      if (i) assert.ok(c[i] >= c[i - 1], `${det.type} ${method}: not monotone at ${g[i]}`);
    }
    // Reaches both ends of the scale over the training range (minmax/ecdf exactly, the others nearly).
    assert.ok(c[0] < 0.2 && c[c.length - 1] > 0.8, `${det.type} ${method}: spans only [${c[0]}, ${c[c.length - 1]}]`);
  }
}

describe('calibration', () => {
  it('every method is monotone and lies in [0, 1] (toy and real detectors)', async () => {
    const { X } = synthetic({ rows: 1500, cols: 6, seed: 4 });
    const dets = [new ZToy(), ...Object.values(realDetectors()).map((f) => f())];
    for (const d of dets) {
      await d.fit(X);
      checkMonotoneUnit(d, await d.score(X));
    }
  });

  it('methods mean what they say on known scores', async () => {
    const n = 10001;
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = i / (n - 1); // uniform on [0, 1]: mean 0.5, std ~0.2887
    const d = await new IdentityToy().fit({ data: a, rows: n, cols: 1 });
    const probe = [0, 0.1, 0.25, 0.5, 0.9, 1, 2];
    const ecdf = d.normalize(probe, 'ecdf');
    [0, 0.1, 0.25, 0.5, 0.9, 1, 1].forEach((v, i) => assert.ok(Math.abs(ecdf[i] - v) < 1e-4, `ecdf(${probe[i]}) = ${ecdf[i]}`));
    const mm = d.normalize(probe, 'minmax');
    [0, 0.1, 0.25, 0.5, 0.9, 1, 1].forEach((v, i) => assert.ok(Math.abs(mm[i] - v) < 1e-6));
    const sd = Math.sqrt(1 / 12);
    const z = d.normalize([0.5, 0.5 + sd, 0.5 - 2 * sd], 'zscore');
    assert.ok(Math.abs(z[0] - 0.5) < 1e-3 && Math.abs(z[1] - 0.8413) < 1e-3 && Math.abs(z[2] - 0.0228) < 1e-3, `zscore ${z}`);
    const u = d.normalize([0.2, 0.5, 0.5 + sd], 'unify');
    assert.ok(u[0] === 0 && Math.abs(u[1]) < 1e-3 && Math.abs(u[2] - 0.6827) < 1e-3, `unify ${u}`);
  });

  it('the calibration option sets the default method and survives save/load', async () => {
    const { X } = shipped('cardio');
    const d = await new ZToy({ calibration: 'zscore' }).fit(X);
    assert.strictEqual(d.calibrationMethod, 'zscore');
    const s = await d.score(X);
    assert.deepStrictEqual(d.normalize(s), d.normalize(s, 'zscore'));
    assert.deepStrictEqual(await d.scoreCalibrated(X), d.normalize(s, 'zscore'));
    const f = tmpFile('cal.nadir');
    d.save(f);
    const back = nadir.loadDetector(f);
    assert.strictEqual(back.calibrationMethod, 'zscore');
    for (const m of METHODS) assert.deepStrictEqual(back.normalize(s, m), d.normalize(s, m), m);
  });

  it('zscore tells rows beyond the training range apart; ecdf saturates', async () => {
    const r = rng(3);
    const a = Float32Array.from({ length: 2000 }, () => gaussian(r));
    const d = await new IdentityToy().fit({ data: a, rows: a.length, cols: 1 });
    const [e1, e2] = d.normalize([5, 5.5], 'ecdf');
    const [z1, z2] = d.normalize([4, 4.5], 'zscore');
    assert.strictEqual(e1, 1);
    assert.strictEqual(e2, 1);
    assert.ok(z2 > z1);
  });

  it('the native kernel equals the TypeScript reference (every method, ties, beyond the range)', () => {
    const { calibrate, calibrateReference } = require('../dist/hybrid/calibration');
    const r = rng(17);
    const q = new Float32Array(1001);
    for (let k = 0; k < 1001; k++) q[k] = k < 300 ? 0 : k < 310 ? 1 : Math.exp(k / 200) + (k === 600 ? 0 : 0); // flat runs and a skew
    q[601] = q[600];
    const cal = { quantiles: q, mean: 3.2, std: 1.7 };
    const s = Float32Array.from({ length: 5000 }, (_, i) => (i % 50 === 0 ? q[(i * 7) % 1001] : (r() - 0.1) * 160));
    for (const m of METHODS) {
      const a = calibrate(cal, s, m);
      const b = calibrateReference(cal, s, m);
      let worst = 0;
      for (let i = 0; i < s.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      assert.ok(worst <= 1e-6, `${m}: native differs from the reference by ${worst}`);
    }
  });

  it('the ecdf kernel (counting search on SIMD levels) equals the scalar binary search exactly at every level', async () => {
    const { native } = require('../dist/binding');
    const r = rng(23);
    const tables = [];
    for (const n of [1001, 1024, 37, 2, 3000]) {
      const q = new Float32Array(n);
      for (let k = 0; k < n; k++) q[k] = k < n / 4 ? -1 : Math.exp((6 * k) / n) - 1;
      for (let k = Math.floor(n / 2); k < Math.floor(n / 2) + 20 && k < n; k++) q[k] = q[Math.floor(n / 2)]; // a flat run
      tables.push(q);
    }
    const s = Float32Array.from({ length: 3001 }, (_, i) => (i % 7 === 0 ? tables[0][(i * 13) % 1001] : (r() - 0.2) * 500));
    s[5] = NaN;
    s[6] = -Infinity;
    s[7] = Infinity;
    s[8] = -0;
    const runs = await atEachLevel(() =>
      tables.flatMap((q) =>
        [[0, 0.01], [4, 0.01], [4, 0.4]].flatMap(([kind, w]) => [s, s.subarray(0, 20)].map((x) => {
          const out = new Float32Array(x.length);
          native.calibrate(x, q, 0.5, 2, kind, w, out);
          return out;
        })),
      ),
    );
    for (const run of runs.slice(1))
      run.result.forEach((out, j) => assert.deepStrictEqual(out, runs[0].result[j], `${run.level} differs from scalar (case ${j})`));
  });

  it('bad methods are named', async () => {
    assert.throws(() => new ZToy({ calibration: 'rank' }), /Expected one of 'ecdf', 'zscore', 'unify', 'minmax' for ZToy option 'calibration' but received 'rank'/);
    const { X } = synthetic({ rows: 100, cols: 3 });
    const d = await new ZToy().fit(X);
    assert.throws(() => d.normalize([1], 'sigmoid'), (e) => e instanceof nadir.OptionError && /calibration method but received "sigmoid"/.test(e.message));
    assert.throws(() => new ZToy().normalize([1]), nadir.NotFittedError);
  });
});
