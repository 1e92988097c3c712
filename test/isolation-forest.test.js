'use strict';
const assert = require('assert');
const nadir = require('..');
const { native } = require('../dist/binding');
const { decodeModel, encodeModel } = require('../dist/io/model-file');
const { synthetic, shipped, atEachLevel, maxAbsDiff, tmpFile, rng } = require('./helpers');

const { IsolationForest } = nadir;

async function fitted(X, options) {
  const d = new IsolationForest({ seed: 1, ...options });
  await d.fit(X);
  return d;
}

function identical(a, b) {
  assert.strictEqual(a.length, b.length);
  assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), 'arrays differ');
}

describe('IsolationForest', () => {
  const cardio = shipped('cardio');
  const thyroid = shipped('thyroid');
  const syn = synthetic({ rows: 2000, cols: 8, seed: 7 });

  describe('accuracy (ROC-AUC floors; sklearn 1.2 gets about 0.93 on cardio and 0.98 on thyroid)', () => {
    it('cardio', async () => {
      const d = await fitted(cardio.X);
      const auc = nadir.rocAuc(await d.score(cardio.X), cardio.labels);
      assert.ok(auc > 0.89, `AUC ${auc}`);
    });
    it('thyroid', async () => {
      const d = await fitted(thyroid.X);
      const auc = nadir.rocAuc(await d.score(thyroid.X), thyroid.labels);
      assert.ok(auc > 0.96, `AUC ${auc}`);
    });
    it('seeded synthetic data', async () => {
      const d = await fitted(syn.X);
      const auc = nadir.rocAuc(await d.score(syn.X), syn.labels);
      assert.ok(auc > 0.97, `AUC ${auc}`);
    });
    it('hyperplane splits (extensionLevel) on cardio and synthetic data', async () => {
      const d = await fitted(cardio.X, { extensionLevel: cardio.X.cols - 1 });
      const auc = nadir.rocAuc(await d.score(cardio.X), cardio.labels);
      assert.ok(auc > 0.9, `AUC ${auc}`);
      const s = await fitted(syn.X, { extensionLevel: 2 });
      const aucSyn = nadir.rocAuc(await s.score(syn.X), syn.labels);
      assert.ok(aucSyn > 0.97, `AUC ${aucSyn}`);
    });
    it('scores lie in (0, 1]; a row far outside the data scores above nearly all training rows', async () => {
      const d = await fitted(syn.X, { trees: 50 });
      const s = await d.score(syn.X);
      for (const v of s) assert.ok(v > 0 && v <= 1);
      const sorted = Float64Array.from(s).sort();
      const far = d.scoreSync(new Float32Array(8).fill(1e6))[0];
      assert.ok(far > sorted[Math.floor(0.99 * sorted.length)] && far > 0.6, `far ${far}`);
    });
  });

  describe('options', () => {
    it('defaults and the sampleSize cap', async () => {
      const d = new IsolationForest({ seed: 3 });
      assert.strictEqual(d.trees, 100);
      assert.strictEqual(d.extensionLevel, 0);
      await d.fit(syn.X);
      assert.strictEqual(d.sampleSize, 256);
      assert.strictEqual(d.depth, 8);
      const small = await fitted(syn.X.sliceRows(0, 50));
      assert.strictEqual(small.sampleSize, 50);
      assert.strictEqual(small.depth, 6);
      const deep = await fitted(syn.X, { maxDepth: 11, trees: 5 });
      assert.strictEqual(deep.depth, 11);
    });

    it('rejects unknown option names and bad values, naming the option', () => {
      assert.throws(() => new IsolationForest({ tree: 10 }), (e) => e instanceof nadir.OptionError && /Unknown option 'tree'.*Did you mean 'trees'/.test(e.message));
      assert.throws(() => new IsolationForest({ trees: 0 }), /IsolationForest option 'trees' but received 0/);
      assert.throws(() => new IsolationForest({ sampleSize: 1.5 }), /option 'sampleSize' but received 1.5/);
      assert.throws(() => new IsolationForest({ sampleSize: 1 }), /option 'sampleSize'/);
      assert.throws(() => new IsolationForest({ maxDepth: 17 }), /option 'maxDepth'/);
      assert.throws(() => new IsolationForest({ extensionLevel: -1 }), /option 'extensionLevel'/);
      assert.throws(() => new IsolationForest({ contamination: 0.7 }), /option 'contamination'/);
      assert.throws(() => new IsolationForest({ threads: -1 }), /option 'threads'/);
    });

    it('extensionLevel must be below the feature count', async () => {
      await assert.rejects(new IsolationForest({ extensionLevel: 8 }).fit(syn.X), (e) => e instanceof nadir.OptionError && /\[0, 7\].*'extensionLevel'/.test(e.message));
    });
  });

  describe('determinism', () => {
    it('same seed => bit-identical forest and scores, whatever the thread count', async () => {
      const a = await fitted(cardio.X, { seed: 42, threads: 1 });
      const b = await fitted(cardio.X, { seed: 42, threads: 2 });
      const c = await fitted(cardio.X, { seed: 42, threads: 0 });
      const sa = await a.score(cardio.X);
      identical(sa, await b.score(cardio.X));
      identical(sa, await c.score(cardio.X));
      for (const k of ['feature', 'threshold', 'leaf']) {
        identical(a.forest[k], b.forest[k]);
        identical(a.forest[k], c.forest[k]);
      }
      assert.strictEqual(a.threshold, b.threshold);
    });

    it('hyperplane forests too', async () => {
      const a = await fitted(syn.X, { seed: 5, threads: 1, extensionLevel: 3 });
      const b = await fitted(syn.X, { seed: 5, threads: 3, extensionLevel: 3 });
      identical(a.forest.normal, b.forest.normal);
      identical(a.forest.offset, b.forest.offset);
      identical(await a.score(syn.X), await b.score(syn.X));
    });

    it('a different seed gives a different forest', async () => {
      const a = await fitted(cardio.X, { seed: 1 });
      const b = await fitted(cardio.X, { seed: 2 });
      assert.ok(maxAbsDiff(await a.score(cardio.X), await b.score(cardio.X)) > 1e-3);
    });

    it('batch scoring split across threads equals one thread', async () => {
      const big = synthetic({ rows: 9000, cols: 6, seed: 11 }).X;
      const one = await fitted(big, { threads: 1, trees: 20 });
      const content = decodeModel(one.toBytes());
      content.meta.options.threads = 4; // the same model, scored on 4 threads
      const many = IsolationForest.fromBytes(encodeModel(content));
      assert.strictEqual(many.config.threads, 4);
      identical(await one.score(big), await many.score(big));
    });
  });

  describe('SIMD kernels', () => {
    // The scalar reference, computed independently in JS (float sum in tree order).
    function reference(d, X) {
      const f = d.forest;
      const I = 2 ** f.depth - 1;
      const ref = new Float32Array(X.rows);
      const cn = (n) => (n <= 1 ? 0 : n <= 2 ? 1 : 2 * (Math.log(n - 1) + 0.5772156649) - (2 * (n - 1)) / n);
      for (let i = 0; i < X.rows; i++) {
        let acc = Math.fround(0);
        for (let t = 0; t < f.trees; t++) {
          let g = 0;
          for (let k = 0; k < f.depth; k++) {
            if (f.feature) {
              g = 2 * g + 1 + (X.data[i * X.cols + f.feature[t * I + g]] > f.threshold[t * I + g] ? 1 : 0);
            } else {
              let dot = 0; // float products are exact in double, as in the native path
              for (let j = 0; j < X.cols; j++) dot += X.data[i * X.cols + j] * f.normal[(t * X.cols + j) * I + g]; // feature-major per tree
              g = 2 * g + 1 + (dot > f.offset[t * I + g] ? 1 : 0);
            }
          }
          acc = Math.fround(acc + f.leaf[t * (I + 1) + g - I]);
        }
        ref[i] = Math.pow(2, -acc / (f.trees * cn(f.sampleSize)));
      }
      return ref;
    }

    // Shapes that exercise: 64-row groups and 16/8-row tails, register-held levels and gathered
    // levels (depth up to 12), feature-major row blocks (cols <= 64) and direct gathers (cols > 64).
    // From 2048 rows and up to 16 features, AVX-512 scores through the batch plan: positional levels
    // only (depth 3), numbered levels of up to 16 / 32 / more live nodes (depth 8; depth 12 with 2048 samples), levels testing
    // up to 2 / 4 / 8 / more distinct features (16 features at depth 12), and the 16-row and
    // single-row tails (2069 = 32 * 64 + 16 + 5).
    const cases = [
      { rows: 1003, cols: 5, trees: 9, maxDepth: 12 },
      { rows: 333, cols: 3, trees: 13, maxDepth: 3 },
      { rows: 130, cols: 2, trees: 4, maxDepth: 1 },
      { rows: 301, cols: 70, trees: 7 },
      { rows: 517, cols: 21, trees: 11, maxDepth: 7 },
      { rows: 1003, cols: 5, trees: 9, maxDepth: 10, extensionLevel: 2 },
      { rows: 211, cols: 66, trees: 5, extensionLevel: 65 },
      { rows: 2069, cols: 9, trees: 12 },
      { rows: 2069, cols: 16, trees: 6, maxDepth: 12, sampleSize: 2048 },
      { rows: 2100, cols: 4, trees: 5, maxDepth: 3 },
      { rows: 2050, cols: 1, trees: 3, maxDepth: 6 },
      // The rank plan (AVX-512 VBMI; the plan fit returns is used from 32 rows on): up to 32
      // features, levels picking among up to 32 columns, passes of 5 blocks of 32 rows and
      // remainders of 1-5 blocks with a padded last block, depth above 8 (gathered leaves, numbered
      // levels) and tables of 64 / 128 entries; 32 features at depth 8: the full passes' bodies
      // for 17..32 columns on a level (rounded up to a multiple of 4).
      { rows: 1831, cols: 21, trees: 40 },
      { rows: 800, cols: 32, trees: 10 },
      { rows: 389, cols: 32, trees: 12, maxDepth: 10 },
      { rows: 1200, cols: 27, trees: 6, maxDepth: 9, sampleSize: 1024 },
      { rows: 45, cols: 17, trees: 8 },
      { rows: 430, cols: 12, trees: 5 },
      { rows: 320, cols: 7, trees: 5 },
    ];
    for (const c of cases) {
      it(`every level gives identical scores (${JSON.stringify(c)})`, async () => {
        const X = synthetic({ rows: c.rows, cols: c.cols, seed: c.rows }).X;
        const d = await fitted(X, { trees: c.trees, maxDepth: c.maxDepth, sampleSize: c.sampleSize, extensionLevel: c.extensionLevel });
        const runs = await atEachLevel(() => d.score(X));
        for (const r of runs) identical(r.result, runs[0].result);
        assert.ok(maxAbsDiff(reference(d, X), runs[0].result) < 1e-6);
      });
    }

    it('the batch plan is exact on tied data (external nodes early, most deep levels padding)', async () => {
      // Thyroid (shipped, 6 features) and coarsely rounded synthetic data: many nodes hold equal rows.
      const syn12 = synthetic({ rows: 2600, cols: 12, seed: 5 }).X;
      const rounded = new nadir.Matrix(syn12.data.map((v) => Math.round(v)), syn12.rows, syn12.cols);
      for (const X of [thyroid.X, rounded]) {
        const d = await fitted(X, { trees: 20 });
        const runs = await atEachLevel(() => d.score(X));
        for (const r of runs) identical(r.result, runs[0].result);
        assert.ok(maxAbsDiff(reference(d, X), runs[0].result) < 1e-6);
      }
    });

    it('the rank plan is exact whether a feature is ranked by 8- or 16-key buckets or the search tree', async () => {
      // Columns from even to very skewed spreads of thresholds (the skewed ones overflow the
      // buckets), and subnormal and tied values; rows also at the thresholds themselves.
      const rows = 1500, cols = 8;
      const rand = rng(11);
      const data = new Float32Array(rows * cols);
      for (let i = 0; i < rows; i++) {
        const u = () => rand();
        const row = [u(), Math.exp(12 * u()), Math.exp(60 * u()), u() < 0.02 ? 1e30 * u() : u(), 1e-40 * u(), Math.round(8 * u()), -Math.exp(30 * u()), Math.exp(16 * u())];
        for (let j = 0; j < cols; j++) data[i * cols + j] = row[j];
      }
      const X = new nadir.Matrix(data, rows, cols);
      const d = await fitted(X, { trees: 40, sampleSize: 512, maxDepth: 9 });
      const f = d.forest;
      const Y = new nadir.Matrix(Float32Array.from(data, (v, g) => (g % 5 === 0 ? f.threshold[(g * 7) % f.threshold.length] : v)).map((v) => (v === Infinity ? 0 : v)), rows, cols);
      for (const Z of [X, Y]) {
        const runs = await atEachLevel(() => d.score(Z));
        for (const r of runs) identical(r.result, runs[0].result);
        assert.ok(maxAbsDiff(reference(d, Z), runs[0].result) < 1e-6);
      }
    });

    // Float32 neighbours (one ulp down / up) of v.
    function ulp(v, dir) {
      const f = new Float32Array([v]);
      const i = new Int32Array(f.buffer);
      if (v === 0) return dir > 0 ? 1.4e-45 : -1.4e-45;
      i[0] += (v > 0) === (dir > 0) ? 1 : -1;
      return f[0];
    }

    it('the rank plan is exact at and next to thresholds, and for +-Infinity, NaN and -0', async () => {
      // Native entry (the detector rejects non-finite input): rows built from the forest's own
      // thresholds, one ulp either side, and special values; plan vs no plan vs the JS reference.
      for (const cols of [9, 21]) {
        const X = synthetic({ rows: 600, cols, seed: cols }).X;
        const d = await fitted(X, { trees: 25 });
        const f = d.forest;
        const byFeature = Array.from({ length: cols }, () => []);
        for (let g = 0; g < f.feature.length; g++) if (f.threshold[g] !== Infinity) byFeature[f.feature[g]].push(f.threshold[g]);
        const rand = rng(3);
        const specials = [Infinity, -Infinity, NaN, -0, 0];
        const rows = 1000;
        const data = new Float32Array(rows * cols);
        for (let i = 0; i < rows; i++)
          for (let j = 0; j < cols; j++) {
            const ts = byFeature[j];
            const t = ts.length ? ts[Math.floor(rand() * ts.length)] : 0;
            const u = rand();
            data[i * cols + j] = u < 0.4 ? t : u < 0.6 ? ulp(t, 1) : u < 0.8 ? ulp(t, -1) : u < 0.9 ? X.data[i % X.rows * cols + j] : specials[i % specials.length];
          }
        const Y = new nadir.Matrix(data, rows, cols);
        const score = (plan) => {
          const out = new Float32Array(rows);
          native.forestScore(data, rows, cols, f.trees, f.depth, f.sampleSize, f.feature, f.threshold, null, null, f.leaf, out, 1, plan);
          return out;
        };
        const runs = await atEachLevel(() => [score(f.plan), score(null)]);
        for (const r of runs) {
          identical(r.result[0], runs[0].result[0]);
          identical(r.result[1], runs[0].result[0]);
        }
        const ref = reference(d, Y);
        // NaN thresholds never occur; NaN and +-inf inputs compare as in the reference.
        assert.ok(maxAbsDiff(ref, runs[0].result[0]) < 1e-6);
      }
    });

    it('a plan from fit, one built after a load, a big batch without one and the scalar path agree', async () => {
      const X = synthetic({ rows: 2300, cols: 12, seed: 8 }).X;
      const d = await fitted(X, { trees: 30 });
      const fromFit = await d.score(X);
      const file = tmpFile('plan.nadir');
      await d.save(file);
      const loaded = await IsolationForest.load(file);
      identical(await loaded.score(X), fromFit); // compiles the loaded forest (2300 rows >= 512)
      identical(loaded.scoreSync(X), fromFit);
      const f = d.forest;
      const out = new Float32Array(X.rows);
      native.forestScore(X.data, X.rows, X.cols, f.trees, f.depth, f.sampleSize, f.feature, f.threshold, null, null, f.leaf, out, 1, null);
      identical(out, fromFit); // compiled for the call (>= 2048 rows)
      const scalar = await atEachLevel(() => d.score(X));
      for (const r of scalar) identical(r.result, fromFit);
    });

    it('forestPlan: null for hyperplane forests; a plan of another shape is ignored; a bad one is refused', async () => {
      const X = synthetic({ rows: 400, cols: 6, seed: 4 }).X;
      const hyper = (await fitted(X, { trees: 5, extensionLevel: 2 })).forest;
      assert.strictEqual(native.forestPlan(6, hyper.trees, hyper.depth, hyper.sampleSize, null, null, hyper.normal, hyper.offset, hyper.leaf), null);
      const a = await fitted(X, { trees: 5 });
      const b = await fitted(X, { trees: 7, seed: 2 });
      const f = a.forest;
      const call = (plan) => {
        const out = new Float32Array(X.rows);
        native.forestScore(X.data, X.rows, X.cols, f.trees, f.depth, f.sampleSize, f.feature, f.threshold, null, null, f.leaf, out, 1, plan);
        return out;
      };
      identical(call(b.forest.plan), call(null));
      identical(call(f.plan), call(null));
      assert.throws(() => call({}), /Expected a forest plan \(from forestFit or forestPlan\) for plan/);
      assert.throws(() => call(new Float32Array(4)), /Expected a forest plan/);
    });

    it('scoreSync equals score, row by row and as a batch, at every level', async () => {
      for (const ext of [0, 4]) {
        const X = synthetic({ rows: 203, cols: 6, seed: 9 }).X;
        const d = await fitted(X, { trees: 30, extensionLevel: ext });
        const runs = await atEachLevel(async () => {
          const batch = await d.score(X);
          const single = new Float32Array(X.rows);
          for (let i = 0; i < X.rows; i++) single[i] = d.scoreSync(X.row(i))[0];
          identical(d.scoreSync(X), batch);
          identical(single, batch);
          return batch;
        });
        for (const r of runs) identical(r.result, runs[0].result);
      }
    });

    it('score() gives the same scores inline (small batches) and on the thread pool (large ones)', async () => {
      for (const ext of [0, 4]) {
        const X = synthetic({ rows: 3000, cols: 6, seed: 12 }).X;
        const d = await fitted(X, { trees: 100, extensionLevel: ext });
        const pooled = await d.score(X); // 3000 x 100 tree walks: above the inline bound
        identical(pooled, d.scoreSync(X));
        const part = X.sliceRows(100, 400); // 300 rows: inline
        identical(await d.score(part), pooled.subarray(100, 400));
      }
    });
  });

  describe('save / load', () => {
    for (const ext of [0, 3]) {
      it(`round trip gives exactly the same scores (extensionLevel ${ext})`, async () => {
        const d = await fitted(syn.X, { trees: 40, extensionLevel: ext, contamination: 0.05 });
        const file = tmpFile('forest.nadir');
        d.save(file);
        const a = IsolationForest.load(file);
        const b = nadir.loadDetector(file);
        assert.ok(b instanceof IsolationForest);
        const s = await d.score(syn.X);
        identical(await a.score(syn.X), s);
        identical(await b.score(syn.X), s);
        identical(a.scoreSync(syn.X.row(3)), d.scoreSync(syn.X.row(3)));
        assert.strictEqual(a.threshold, d.threshold);
        assert.strictEqual(a.depth, d.depth);
        assert.strictEqual(a.sampleSize, d.sampleSize);
        assert.deepStrictEqual(await a.predict(syn.X), await d.predict(syn.X));
      });
    }

    it('rejects a model whose arrays do not fit the forest', async () => {
      const d = await fitted(syn.X, { trees: 5 });
      const content = decodeModel(d.toBytes());
      const bad = (mutate) => {
        const c = { type: content.type, meta: JSON.parse(JSON.stringify(content.meta)), arrays: { ...content.arrays } };
        mutate(c);
        return encodeModel(c);
      };
      assert.throws(() => IsolationForest.fromBytes(bad((c) => { c.arrays.leaf = c.arrays.leaf.subarray(1); })), /array 'leaf' has 1279 values, expected 1280/);
      assert.throws(() => IsolationForest.fromBytes(bad((c) => { c.arrays.feature = Int32Array.from(c.arrays.feature).fill(99); })), /feature index out of range/);
      assert.throws(() => IsolationForest.fromBytes(bad((c) => { delete c.arrays.threshold; })), /array 'threshold' is missing/);
      assert.throws(() => IsolationForest.fromBytes(bad((c) => { c.meta.state.depth = 20; })), /'depth' is missing or out of range/);
    });
  });

  describe('bad input', () => {
    it('fit: NaN, empty, too few rows', async () => {
      const X = [[1, 2], [3, NaN], [5, 6]];
      await assert.rejects(new IsolationForest().fit(X), /X contains NaN at row 1, column 1/);
      await assert.rejects(new IsolationForest().fit(new nadir.Matrix(new Float32Array(0), 0, 3)), /X is empty/);
      await assert.rejects(new IsolationForest().fit([]), (e) => e instanceof nadir.DataError);
      await assert.rejects(new IsolationForest().fit([[1, 2]]), /needs at least 2/);
      const imputed = await new IsolationForest({ impute: 'mean', seed: 1 }).fit(X);
      assert.strictEqual(imputed.nFeatures, 2);
    });

    it('score: before fit, wrong width, NaN, empty', async () => {
      const d = new IsolationForest();
      await assert.rejects(d.score([[1, 2]]), (e) => e instanceof nadir.NotFittedError);
      assert.throws(() => d.scoreSync([1, 2]), (e) => e instanceof nadir.NotFittedError);
      await assert.rejects(d.predict([[1, 2]]), (e) => e instanceof nadir.NotFittedError);
      await assert.rejects(d.explain([[1, 2]]), (e) => e instanceof nadir.NotFittedError);
      const f = await fitted(syn.X, { trees: 5 });
      await assert.rejects(f.score([[1, 2, 3]]), /X has 3 columns but this IsolationForest was fitted on 8/);
      assert.throws(() => f.scoreSync(new Float32Array(7)), /not a whole number of rows of 8 features/);
      assert.throws(() => f.scoreSync(new Float32Array(8).fill(NaN)), /X contains NaN at row 0, column 0/);
      assert.strictEqual((await f.score([])).length, 0);
      assert.strictEqual(f.scoreSync(new Float32Array(0)).length, 0);
    });

    it('native entry points re-check shapes', async () => {
      const f = await fitted(syn.X, { trees: 5 });
      const m = f.forest;
      const x = new Float32Array(16);
      const call = (o) => native.forestScore(o.x ?? x, 2, 8, 5, o.depth ?? m.depth, 256, o.feature ?? m.feature, m.threshold, null, null, o.leaf ?? m.leaf, o.out ?? new Float32Array(2), 1);
      assert.throws(() => call({ x: new Float32Array(15) }), /Expected 16 elements in x/);
      assert.throws(() => call({ depth: 7 }), /elements in feature/);
      assert.throws(() => call({ leaf: new Float32Array(3) }), /elements in leaf/);
      assert.throws(() => call({ out: new Float32Array(1) }), /elements in out/);
      assert.throws(() => call({ feature: new Float32Array(m.feature.length) }), /Expected Int32Array for feature but received Float32Array/);
      assert.throws(() => call({ depth: 17 }), /depth/);
      // Corrupt feature indices are clamped, never read out of bounds.
      const wild = Int32Array.from(m.feature).fill(1 << 30);
      assert.strictEqual(call({ feature: wild }), undefined);
      await assert.rejects(async () => native.forestFit(new Float32Array(16), 2, 8, 5, 3, 4, 0, 1, 1), /sampleSize \(3\) exceeds the 2 rows/);
    });
  });

  describe('predict and explain', () => {
    it('contamination sets the share of training rows flagged', async () => {
      const d = await fitted(syn.X, { contamination: 0.05 });
      const flags = await d.predict(syn.X);
      const share = flags.reduce((a, b) => a + b, 0) / flags.length;
      assert.ok(Math.abs(share - 0.05) < 0.01, `share ${share}`);
    });

    for (const ext of [0, 1]) {
      it(`explain: an injected extreme feature gets the largest attribution (extensionLevel ${ext})`, async () => {
        const rand = rng(3);
        const rows = 400;
        const cols = 6;
        const data = Float32Array.from({ length: rows * cols }, () => rand() * 2 - 1);
        const d = await fitted({ data, rows, cols }, { extensionLevel: ext });
        const probe = [];
        for (let j = 0; j < cols; j++) {
          const r = Array.from(data.subarray(j * cols, (j + 1) * cols), (v) => v * 0.3); // a typical row...
          r[j] = 9; // ...far outside [-1, 1] on feature j only
          probe.push(r);
        }
        const e = await d.explain(probe);
        assert.strictEqual(e.rows, cols);
        assert.strictEqual(e.cols, cols);
        for (let j = 0; j < cols; j++) {
          const row = Array.from(e.row(j));
          assert.strictEqual(row.indexOf(Math.max(...row)), j, `row ${j}: ${row.map((v) => v.toFixed(3))}`);
          for (const v of row) assert.ok(v >= 0 && Number.isFinite(v));
        }
        assert.strictEqual((await d.explain([])).rows, 0);
      });
    }
  });
});
