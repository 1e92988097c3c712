'use strict';
const assert = require('assert');
const nadir = require('..');
const { native } = require('../dist/binding');
const mf = require('../dist/io/model-file');
const { rng, gaussian, synthetic, shipped, tmpFile } = require('./helpers');

const { ECOD } = nadir;

/** Independent JS reference of both aggregates, by brute-force counting. */
function bruteForce(train, test, aggregate) {
  const n = train.rows;
  const d = train.cols;
  const col = (j) => Array.from({ length: n }, (_, i) => train.data[i * d + j]);
  const skew = [];
  for (let j = 0; j < d; j++) {
    const c = col(j);
    const mean = c.reduce((a, b) => a + b, 0) / n;
    let m2 = 0;
    let m3 = 0;
    for (const v of c) { m2 += (v - mean) ** 2; m3 += (v - mean) ** 3; }
    skew.push(m2 > 0 ? m3 / n / (m2 / n) ** 1.5 : 0);
  }
  const scores = new Float64Array(test.rows);
  const contrib = new Float64Array(test.rows * d);
  for (let i = 0; i < test.rows; i++) {
    const ul = [];
    const ur = [];
    for (let j = 0; j < d; j++) {
      const x = test.data[i * d + j];
      const c = col(j);
      const le = c.filter((v) => v <= x).length;
      const ge = c.filter((v) => v >= x).length;
      ul.push(-Math.log((le + 1) / (n + 1)));
      ur.push(-Math.log((ge + 1) / (n + 1)));
    }
    let terms;
    if (aggregate === 'tail-sum') {
      const auto = ul.map((u, j) => (skew[j] < 0 ? u : ur[j]));
      const sum = (a) => a.reduce((p, q) => p + q, 0);
      const [A, L, R] = [sum(auto), sum(ul), sum(ur)];
      terms = A >= L && A >= R ? auto : L >= R ? ul : ur;
    } else {
      terms = ul.map((u, j) => Math.max(u, ur[j]));
    }
    for (let j = 0; j < d; j++) contrib[i * d + j] = terms[j];
    scores[i] = terms.reduce((p, q) => p + q, 0);
  }
  return { scores, contrib };
}

/** Gaussian data, optionally rounded to create many ties. */
function gaussianMatrix(rows, cols, seed, round = false) {
  const rand = rng(seed);
  const data = new Float32Array(rows * cols);
  for (let k = 0; k < data.length; k++) {
    const v = gaussian(rand) * (1 + (k % cols)) + (k % cols);
    data[k] = round ? Math.round(v) : v;
  }
  return new nadir.Matrix(data, rows, cols);
}

function sliceRows(m, from, to) {
  return new nadir.Matrix(m.data.slice(from * m.cols, to * m.cols), to - from, m.cols);
}

function assertClose(a, b, tol, what) {
  assert.strictEqual(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

describe('ECOD', () => {
  describe('accuracy', () => {
    // Measured (fit and score on the whole set): feature-max cardio 0.935, thyroid 0.977;
    // tail-sum cardio 0.881, thyroid 0.921.
    const floors = { 'feature-max': { cardio: 0.92, thyroid: 0.96 }, 'tail-sum': { cardio: 0.86, thyroid: 0.9 } };
    for (const aggregate of ['feature-max', 'tail-sum']) {
      for (const name of ['cardio', 'thyroid']) {
        it(`ROC-AUC on shipped ${name} (${aggregate}) >= ${floors[aggregate][name]}`, async () => {
          const { X, labels } = shipped(name);
          const det = await new ECOD({ aggregate }).fit(X);
          const auc = nadir.rocAuc(await det.score(X), labels);
          assert.ok(auc >= floors[aggregate][name], `AUC ${auc.toFixed(4)}`);
        });
      }
    }

    it('ROC-AUC on seeded synthetic data, fitted on one half and scoring the other', async () => {
      // Measured 0.99 / 0.98 / 0.99 for seeds 1-3.
      for (const seed of [1, 2, 3]) {
        const { X, labels } = synthetic({ rows: 2000, cols: 8, seed });
        const det = await new ECOD().fit(sliceRows(X, 0, 1000));
        const auc = nadir.rocAuc(await det.score(sliceRows(X, 1000, 2000)), labels.subarray(1000));
        assert.ok(auc >= 0.95, `seed ${seed}: AUC ${auc.toFixed(4)}`);
      }
    });
  });

  describe('definition', () => {
    for (const aggregate of ['feature-max', 'tail-sum']) {
      it(`matches a brute-force count of the ECDFs (${aggregate}), including ties and values beyond the training range`, async () => {
        const train = gaussianMatrix(60, 5, 7, true);
        const test = gaussianMatrix(40, 5, 8, true);
        for (let j = 0; j < 5; j++) { test.data[j] = 1e6; test.data[5 + j] = -1e6; } // beyond range
        const det = await new ECOD({ aggregate }).fit(train);
        const ref = bruteForce(train, test, aggregate);
        assertClose(await det.score(test), ref.scores, 1e-6, 'scores');
        assertClose((await det.explain(test)).data, ref.contrib, 1e-6, 'contributions');
        for (const s of await det.score(test)) assert.ok(Number.isFinite(s));
      });
    }

    it('the fast search equals the std::lower/upper_bound reference bit for bit', async () => {
      for (const [n, cols, round] of [[2, 1, false], [3, 5, true], [17, 16, true], [63, 2, true], [64, 3, false], [65, 2, true], [128, 4, true], [200, 17, true], [1000, 40, false], [257, 3, true], [5000, 3, false], [4097, 2, true]]) {
        const train = gaussianMatrix(n, cols, n + cols, round);
        const test = gaussianMatrix(300, cols, n * 3 + cols, round);
        const det = await new ECOD({ seed: 1 }).fit(train);
        for (const agg of [0, 1]) {
          const fast = new Float32Array(test.rows);
          const ref = new Float32Array(test.rows);
          const fc = new Float32Array(test.rows * cols);
          const rc = new Float32Array(test.rows * cols);
          native.ecodScore(test.data, test.rows, cols, det.sorted, det.table, det.skew, agg, fast, fc);
          native.ecodScoreReference(test.data, test.rows, cols, det.sorted, det.table, det.skew, agg, ref, rc);
          assert.deepStrictEqual(fast, ref, `n=${n} cols=${cols} agg=${agg}`);
          assert.deepStrictEqual(fc, rc, `contrib n=${n} cols=${cols} agg=${agg}`);
        }
      }
    });

    it('handles constant features', async () => {
      const X = Array.from({ length: 50 }, (_, i) => [3, i % 7, 1]);
      const det = await new ECOD().fit(X);
      assert.strictEqual(det.skewness[0], 0);
      assert.strictEqual(det.skewness[2], 0);
      const [inRange, outside] = det.scoreSync([[3, 3, 1], [3, 3, 2]]);
      assert.ok(outside > inRange);
    });
  });

  describe('scoring new data', () => {
    it('a row scores the same alone, in any batch, sync or async, with any thread count', async () => {
      const { X } = synthetic({ rows: 3000, cols: 6, seed: 4 });
      const train = sliceRows(X, 0, 1500);
      const test = sliceRows(X, 1500, 3000);
      const one = await new ECOD({ threads: 1 }).fit(train);
      const two = await new ECOD({ threads: 2 }).fit(train);
      const batch = await one.score(test);
      assert.deepStrictEqual(await two.score(test), batch);
      assert.deepStrictEqual(one.scoreSync(test), batch);
      // Other rows of the batch do not matter (PyOD refits on train + batch; we must not).
      const half = await one.score(sliceRows(test, 0, 700));
      assert.deepStrictEqual(half, batch.subarray(0, 700));
      for (const i of [0, 1, 699, 1499]) {
        const row = test.data.slice(i * 6, (i + 1) * 6);
        assert.strictEqual(one.scoreSync(row)[0], batch[i]);
        assert.strictEqual((await one.score(row))[0], batch[i]);
      }
    });

    it('training scores equal the scores of the training rows scored afterwards', async () => {
      const { X } = synthetic({ rows: 800, cols: 5, seed: 5 });
      const det = await new ECOD({ contamination: 0.05 }).fit(X);
      const s = await det.score(X);
      const sorted = Float64Array.from(s).sort();
      // Threshold is the 95% quantile of the training scores, so those scores are s.
      const q = require('../dist/detectors/base').quantileSorted(sorted, 0.95);
      assert.strictEqual(det.threshold, q);
      const flagged = (await det.predict(X)).reduce((a, b) => a + b, 0);
      assert.ok(flagged >= 35 && flagged <= 45, `flagged ${flagged}`);
    });

    it('is deterministic: refits give identical models and scores', async () => {
      const { X } = synthetic({ rows: 1000, cols: 7, seed: 6 });
      const a = await new ECOD({ seed: 1 }).fit(X);
      const b = await new ECOD({ seed: 2, threads: 2 }).fit(X);
      assert.deepStrictEqual(a.sorted, b.sorted);
      assert.deepStrictEqual(a.skewness, b.skewness);
      assert.deepStrictEqual(await a.score(X), await b.score(X));
      assert.strictEqual(a.threshold, b.threshold);
      assert.strictEqual(a.trainingRows, 1000);
    });
  });

  describe('persistence', () => {
    for (const aggregate of ['feature-max', 'tail-sum']) {
      it(`save -> load gives exactly the same scores (${aggregate})`, async () => {
        const { X } = synthetic({ rows: 600, cols: 6, seed: 7 });
        const det = await new ECOD({ aggregate, contamination: 0.2 }).fit(X);
        const file = tmpFile('ecod.nadir');
        det.save(file);
        const viaClass = ECOD.load(file);
        const viaAny = nadir.loadDetector(file);
        assert.ok(viaAny instanceof ECOD);
        const want = await det.score(X);
        for (const back of [viaClass, viaAny, ECOD.fromBytes(det.toBytes())]) {
          assert.strictEqual(back.aggregate, aggregate);
          assert.deepStrictEqual(await back.score(X), want);
          assert.deepStrictEqual(back.scoreSync(X), want);
          assert.strictEqual(back.threshold, det.threshold);
          assert.strictEqual(back.nFeatures, 6);
          assert.deepStrictEqual((await back.explain(X)).data, (await det.explain(X)).data);
        }
      });
    }

    it('rejects a model whose columns are not sorted', async () => {
      const det = await new ECOD().fit(gaussianMatrix(50, 3, 9));
      const content = mf.decodeModel(det.toBytes());
      content.arrays.sorted[10] = 1e9;
      assert.throws(() => nadir.detectorFromBytes(mf.encodeModel(content)), /not sorted in feature 0/);
      delete content.arrays.skewness;
      assert.throws(() => nadir.detectorFromBytes(mf.encodeModel(content)), /skewness/);
    });
  });

  describe('explain', () => {
    for (const aggregate of ['feature-max', 'tail-sum']) {
      it(`contributions sum to the score and the injected feature dominates (${aggregate})`, async () => {
        const X = gaussianMatrix(1000, 6, 10);
        const det = await new ECOD({ aggregate }).fit(X);
        const test = sliceRows(X, 0, 20);
        for (let i = 0; i < 20; i++) test.data[i * 6 + (i % 6)] += (i % 2 ? 1 : -1) * 20;
        const scores = await det.score(test);
        const ex = await det.explain(test);
        assert.strictEqual(ex.rows, 20);
        assert.strictEqual(ex.cols, 6);
        for (let i = 0; i < 20; i++) {
          const row = Array.from(ex.data.subarray(i * 6, (i + 1) * 6));
          const sum = row.reduce((a, b) => a + b, 0);
          assert.ok(Math.abs(sum - scores[i]) < 1e-5 * Math.max(1, scores[i]), `row ${i}: ${sum} vs ${scores[i]}`);
          assert.strictEqual(row.indexOf(Math.max(...row)), i % 6, `row ${i}: ${row}`);
          for (const c of row) assert.ok(c >= 0);
        }
      });
    }
  });

  describe('bad input', () => {
    it('rejects unknown options and bad option values', () => {
      assert.throws(() => new ECOD({ agregate: 'tail-sum' }), (e) => e instanceof nadir.OptionError && /Unknown option 'agregate'.*Did you mean 'aggregate'/.test(e.message));
      assert.throws(() => new ECOD({ aggregate: 'mean' }), (e) => e instanceof nadir.OptionError && /'feature-max', 'tail-sum'.*aggregate.*'mean'/.test(e.message));
      assert.throws(() => new ECOD({ threads: -1 }), nadir.OptionError);
      assert.throws(() => new ECOD({ contamination: 0.9 }), nadir.OptionError);
    });

    it('refuses to score or explain before fit', async () => {
      const det = new ECOD();
      assert.throws(() => det.scoreSync([1, 2]), nadir.NotFittedError);
      await assert.rejects(det.score([[1, 2]]), /ECOD is not fitted/);
      await assert.rejects(det.explain([[1, 2]]), nadir.NotFittedError);
      assert.throws(() => det.skewness, nadir.NotFittedError);
    });

    it('rejects NaN, empty input, a single training row and the wrong width', async () => {
      await assert.rejects(new ECOD().fit([[1, 2], [NaN, 3]]), /NaN at row 1, column 0/);
      await assert.rejects(new ECOD().fit({ data: new Float32Array(0), rows: 0, cols: 3 }), /X is empty/);
      await assert.rejects(new ECOD().fit([]), nadir.DataError);
      await assert.rejects(new ECOD().fit([[1, 2]]), /at least 2/);
      const det = await new ECOD().fit([[1, 2], [2, 3], [3, 5]]);
      assert.throws(() => det.scoreSync([[1, 2, 3]]), /3 columns but this ECOD was fitted on 2/);
      await assert.rejects(det.score([[1, Infinity]]), /Infinity at row 0, column 1/);
      assert.throws(() => det.scoreSync([1, 2, 3]), /not a whole number of rows of 2/);
      assert.deepStrictEqual(await det.score([]), new Float32Array(0));
      // impute replaces non-finite values instead of throwing
      const imp = await new ECOD({ impute: 'median' }).fit([[1, 2], [NaN, 3], [3, 4]]);
      assert.ok(Number.isFinite(imp.scoreSync([NaN, 3])[0]));
    });

    it('native entry points re-check their arguments', async () => {
      const det = await new ECOD().fit([[1, 2], [2, 3], [3, 5]]);
      const x = new Float32Array([1, 2]);
      const out = new Float32Array(1);
      assert.throws(() => native.ecodScore(x, 1, 2, det.sorted, det.table, det.skew, 0, new Float32Array(2), null), /Expected 1 elements in out/);
      assert.throws(() => native.ecodScore(x, 2, 2, det.sorted, det.table, det.skew, 0, out, null), /Expected 4 elements in X/);
      assert.throws(() => native.ecodScore(x, 1, 2, det.sorted.subarray(0, 5), det.table, det.skew, 0, out, null), /multiple of 2 elements in sorted/);
      assert.throws(() => native.ecodScore(x, 1, 2, det.sorted, det.table, new Float32Array(2), 0, out, null), /Expected Float64Array for skewness but received Float32Array/);
      assert.throws(() => native.ecodScore(x, 1, 2, det.sorted, det.table, det.skew, 2, out, null), /aggregate/);
      assert.throws(() => native.ecodScore(x, 1, 2, det.sorted, det.table, det.skew, 0, out, new Float32Array(3)), /Expected 2 elements in contrib/);
      assert.throws(() => native.ecodScore(x, 1, 2, det.sorted, det.table.subarray(1), det.skew, 0, out, null), /Expected 4 elements in table/);
      assert.throws(() => native.ecodFit(x, 2, 2, 1), /Expected 4 elements in X/);
      assert.throws(() => native.ecodScoreAsync(x, 1, 2, det.sorted, det.table, det.skew, 0, out, null, 'two'), /Expected an integer for threads/);
    });
  });
});
