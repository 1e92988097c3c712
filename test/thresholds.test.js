'use strict';
const assert = require('assert');
const nadir = require('..');
const { synthetic, tmpFile, rng, gaussian } = require('./helpers');
const { ZToy, IdentityToy, realDetectors } = require('./toy-detectors');

const col = (a) => ({ data: a, rows: a.length, cols: 1 });

function pareto(n, alpha, seed) {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => Math.pow(1 - r(), -1 / alpha));
}
function studentT3(n, seed) {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => {
    const z = gaussian(r);
    let c = 0;
    for (let k = 0; k < 3; k++) c += gaussian(r) ** 2;
    return z / Math.sqrt(c / 3);
  });
}

describe('thresholds', () => {
  // Tolerance: SPOT fits ~2000 peaks (the top 2% of 100k); the shape estimate's standard error is
  // about (1 + shape) / sqrt(2000) ~ 0.03, and extrapolating 20x beyond the initial threshold turns it
  // into ~ln(20) * 0.03 ~ 9% relative error at 1 sigma for the worst case of these tails; measured
  // errors over 10 seeds were within 5% (Pareto 4%, t3 5%). 10% catches a broken fit (an exponential
  // tail on Pareto data is off by > 40%) without flaking.
  it('SPOT lands near the true quantile at the target risk on heavy-tailed scores (100k samples)', async () => {
    const cases = [
      { name: 'Pareto(3)', data: pareto(100000, 3, 11), risk: 1e-3, truth: Math.pow(1e-3, -1 / 3), tol: 0.1 },
      { name: 'Student t(3)', data: studentT3(100000, 12), risk: 1e-3, truth: 10.2145, tol: 0.1 },
      // 1e-4 leaves only ~10 samples beyond the answer: extrapolation, looser tolerance.
      { name: 'Pareto(3) at 1e-4', data: pareto(100000, 3, 13), risk: 1e-4, truth: Math.pow(1e-4, -1 / 3), tol: 0.2 },
    ];
    for (const c of cases) {
      const d = await new IdentityToy({ threshold: { method: 'spot', risk: c.risk } }).fit(col(c.data));
      const info = d.thresholdInfo;
      assert.strictEqual(info.method, 'spot');
      assert.strictEqual(d.threshold, info.value);
      const rel = Math.abs(info.value / c.truth - 1);
      assert.ok(rel < c.tol, `${c.name}: SPOT ${info.value} vs true ${c.truth} (${(rel * 100).toFixed(1)}% off)`);
      assert.ok(info.params.gamma > 0.15, `${c.name}: heavy tail should give a positive shape, got ${info.params.gamma}`);
      assert.match(info.reason, /generalized Pareto tail .* above the 0\.98 quantile/);
    }
  });

  it('SPOT on a light (Gaussian) tail: near-zero or negative shape, near the true quantile', async () => {
    const r = rng(5);
    const a = Float32Array.from({ length: 100000 }, () => gaussian(r));
    const d = await new IdentityToy({ threshold: 'spot' }).fit(col(a));
    assert.ok(Math.abs(d.threshold / 3.0902 - 1) < 0.05, `${d.threshold}`);
    assert.ok(d.thresholdInfo.params.gamma < 0.1);
  });

  it('GPD fit recovers known parameters', () => {
    const r = rng(9);
    // GPD(shape 0.3, scale 2) by inversion.
    const y = Array.from({ length: 20000 }, () => (2 / 0.3) * (Math.pow(1 - r(), -0.3) - 1));
    const { gamma, sigma } = nadir.fitGpd(y);
    assert.ok(Math.abs(gamma - 0.3) < 0.04 && Math.abs(sigma / 2 - 1) < 0.05, `gamma ${gamma} sigma ${sigma}`);
    const e = Array.from({ length: 20000 }, () => -3 * Math.log(1 - r()));
    const fe = nadir.fitGpd(e);
    assert.ok(Math.abs(fe.gamma) < 0.03 && Math.abs(fe.sigma / 3 - 1) < 0.05, `exp: ${JSON.stringify(fe)}`);
  });

  it('MAD and IQR are exact on known data', async () => {
    // 1..101: median 51, MAD 25, Q1 26, Q3 76.
    const a = Float32Array.from({ length: 101 }, (_, i) => i + 1);
    const mad = await new IdentityToy({ threshold: { method: 'mad', k: 2 } }).fit(col(a));
    assert.strictEqual(mad.threshold, 51 + 2 * 1.4826 * 25);
    assert.deepStrictEqual(mad.thresholdInfo.params, { k: 2, median: 51, mad: 25 });
    const iqr = await new IdentityToy({ threshold: 'iqr' }).fit(col(a));
    assert.strictEqual(iqr.threshold, 76 + 1.5 * 50);
    assert.match(iqr.thresholdInfo.reason, /Q3 76 \+ 1\.5 x IQR 50/);
    // Skewed data: MAD is the median of |x - median|.
    const b = Float32Array.from([1, 2, 3, 4, 100]);
    const m2 = await new IdentityToy({ threshold: { method: 'mad', k: 1 } }).fit(col(b));
    assert.strictEqual(m2.thresholdInfo.params.mad, 1);
  });

  it('contamination and fixed values keep their old meaning', async () => {
    const { X } = synthetic({ rows: 1000, cols: 5, seed: 2 });
    const d = await new ZToy({ contamination: 0.05 }).fit(X);
    const s = await d.score(X);
    const flagged = (await d.predict(X)).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(flagged - 50) <= 1, `${flagged}`);
    assert.strictEqual(d.thresholdInfo.method, 'contamination');
    const fixed = await new ZToy({ threshold: 7.5 }).fit(X);
    assert.strictEqual(fixed.threshold, 7.5);
    assert.deepStrictEqual(fixed.thresholdInfo, { method: 'fixed', value: 7.5, reason: 'fixed by the user at 7.5', params: { value: 7.5 } });
    assert.ok(s.length === 1000);
  });

  it('every method survives save/load, and setThreshold after load matches fit', async () => {
    const data = pareto(30000, 2.5, 21);
    const specs = [0.5, 'contamination', { method: 'contamination', contamination: 0.02 }, 'spot', { method: 'spot', risk: 1e-4, level: 0.97 }, 'mad', { method: 'mad', k: 4 }, 'iqr', { method: 'iqr', k: 3 }];
    for (const spec of specs) {
      const d = await new IdentityToy({ threshold: spec }).fit(col(data));
      const f = tmpFile('t.nadir');
      d.save(f);
      const back = nadir.loadDetector(f);
      assert.deepStrictEqual(back.thresholdInfo, d.thresholdInfo, JSON.stringify(spec));
      assert.strictEqual(back.threshold, d.threshold);
      // Recomputed from what the model file keeps (summary + top tail): the same value.
      const again = back.setThreshold(spec);
      assert.ok(Math.abs(again.value - d.threshold) <= 1e-9 * Math.abs(d.threshold), `${JSON.stringify(spec)}: ${again.value} vs ${d.threshold}`);
    }
    // setThreshold changes predictions and persists.
    const d = await new IdentityToy().fit(col(data));
    const info = d.setThreshold({ method: 'spot', risk: 1e-3 });
    assert.strictEqual(d.threshold, info.value);
    const f = tmpFile('t2.nadir');
    d.save(f);
    assert.strictEqual(nadir.loadDetector(f).thresholdInfo.method, 'spot');
  });

  it('works with the real detectors present', async () => {
    const { X } = synthetic({ rows: 2000, cols: 6, seed: 8 });
    for (const [name, make] of Object.entries(realDetectors())) {
      const d = await make().fit(X);
      for (const m of ['spot', 'mad', 'iqr']) {
        const info = d.setThreshold(m);
        assert.ok(Number.isFinite(info.value) && info.method === m, `${name} ${m}`);
      }
    }
  });

  it('too few peaks fall back on the empirical quantile and say so', async () => {
    const a = Float32Array.from({ length: 200 }, (_, i) => (i < 195 ? 1 : 2));
    const d = await new IdentityToy({ threshold: 'spot' }).fit(col(a));
    assert.match(d.thresholdInfo.reason, /too few to fit a tail; used the empirical 0\.999 quantile/);
  });

  it('bad threshold options are named', () => {
    const bad = [
      [{ method: 'pot' }, /ZToy option 'threshold' needs 'method' to be one of 'fixed', 'contamination', 'spot', 'mad', 'iqr' but received "pot"/],
      ['otsu', /must be a number, 'contamination', 'spot', 'mad', 'iqr' or an object/],
      [{ method: 'spot', risk: 0.5 }, /field 'risk' must be a number in \(0, 0\.02\)/],
      [{ method: 'spot', level: 1 }, /field 'level' must be a number in \[0\.5, 1\)/],
      [{ method: 'mad', k: -1 }, /field 'k' must be a number >= 0/],
      [{ method: 'iqr', q: 3 }, /unknown field 'q' for method 'iqr'/],
      [{ method: 'fixed' }, /needs 'value'/],
      [NaN, /must be a finite number but received NaN/],
      [[1, 2], /received an array/],
    ];
    for (const [spec, re] of bad) assert.throws(() => new ZToy({ threshold: spec }), (e) => e instanceof nadir.OptionError && re.test(e.message), JSON.stringify(spec));
  });
});

describe('models saved before threshold info existed', () => {
  it('load with their stored threshold; MAD/IQR come from the quantile table, SPOT asks for a refit', async () => {
    const mf = require('../dist/io/model-file');
    const a = Float32Array.from({ length: 5001 }, (_, i) => i / 5000);
    const d = await new IdentityToy({ contamination: 0.05 }).fit(col(a));
    const c = mf.decodeModel(d.toBytes());
    delete c.meta.common.summary;
    delete c.meta.common.thresholdInfo;
    delete c.arrays['calibration.tail'];
    const old = nadir.detectorFromBytes(mf.encodeModel(c));
    assert.strictEqual(old.threshold, d.threshold);
    assert.strictEqual(old.thresholdInfo.method, 'contamination');
    assert.match(old.thresholdInfo.reason, /stored in the model file/);
    // Uniform on [0, 1]: median 0.5, MAD 0.25, Q1 0.25, Q3 0.75 (to table precision).
    assert.ok(Math.abs(old.setThreshold({ method: 'mad', k: 1 }).value - (0.5 + 1.4826 * 0.25)) < 1e-3);
    assert.ok(Math.abs(old.setThreshold('iqr').value - 1.5) < 1e-3);
    assert.throws(() => old.setThreshold('spot'), /needs the top training scores, which this model does not hold .* fit it again/);
  });

  it('summarize: the median absolute deviation equals the one from sorting every deviation', () => {
    const { summarize } = require('../dist/hybrid/thresholds');
    const r = rng(9);
    for (const n of [1, 2, 3, 10, 11, 1001, 5000]) {
      for (const ties of [false, true]) {
        const x = Float64Array.from({ length: n }, () => (ties ? Math.floor(r() * 7) : gaussian(r) * 3 + (r() < 0.1 ? 20 : 0))).sort();
        const median = x.length % 2 ? x[(n - 1) / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
        const dev = Float64Array.from(x, (v) => Math.abs(v - median)).sort();
        const pos = 0.5 * (n - 1), lo = Math.floor(pos), hi = Math.min(n - 1, lo + 1);
        assert.strictEqual(summarize(x).mad, dev[lo] + (dev[hi] - dev[lo]) * (pos - lo), `n=${n} ties=${ties}`);
      }
    }
  });
});

