'use strict';
const assert = require('assert');
const nadir = require('..');
const { native } = require('../dist/binding');
const { rng, synthetic, shipped, atEachLevel, maxAbsDiff, tmpFile } = require('./helpers');
const { PCA, Matrix, rocAuc } = nadir;

function checkEigen(A, d, { values, vectors }) {
  let scale = 1e-300;
  for (const a of A) scale = Math.max(scale, Math.abs(a));
  for (let k = 0; k < d; k++) {
    if (k > 0) assert.ok(values[k] <= values[k - 1], 'descending');
    for (let i = 0; i < d; i++) {
      let t = 0;
      for (let j = 0; j < d; j++) t += A[i * d + j] * vectors[k * d + j];
      assert.ok(Math.abs(t - values[k] * vectors[k * d + i]) < 1e-10 * scale * d, `A v = lambda v (k=${k})`);
    }
    for (let l = 0; l <= k; l++) {
      let t = 0;
      for (let j = 0; j < d; j++) t += vectors[k * d + j] * vectors[l * d + j];
      assert.ok(Math.abs(t - (k === l ? 1 : 0)) < 1e-10 * d, `orthonormal (${k}, ${l})`);
    }
  }
}

describe('PCA', () => {
  describe('symmetric eigendecomposition', () => {
    for (const d of [1, 2, 5, 33, 120]) {
      it(`A v = lambda v, orthonormal, descending (d=${d})`, () => {
        const rand = rng(d);
        const A = new Float64Array(d * d);
        for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) A[i * d + j] = A[j * d + i] = rand() * 2 - 1;
        checkEigen(A, d, native.symmetricEigen(A, d));
      });
    }

    it('handles repeated, zero and widely spread eigenvalues, and d = 300 quickly', () => {
      const d = 6;
      const I = new Float64Array(d * d);
      for (let i = 0; i < d; i++) I[i * d + i] = i < 3 ? 2 : 0;
      const r = native.symmetricEigen(I, d);
      checkEigen(I, d, r);
      assert.deepStrictEqual(Array.from(r.values), [2, 2, 2, 0, 0, 0]);
      checkEigen(new Float64Array(d * d), d, native.symmetricEigen(new Float64Array(d * d), d));
      // Covariance-like matrix with eigenvalues from 1e6 down to 1e-6.
      const rand = rng(3);
      const n = 300;
      const B = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) B[i * n + j] = (rand() - 0.5) * Math.pow(10, 3 - (6 * j) / n);
      const C = new Float64Array(n * n);
      for (let i = 0; i < n; i++)
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let k = 0; k < n; k++) s += B[i * n + k] * B[j * n + k];
          C[i * n + j] = C[j * n + i] = s;
        }
      const t = Date.now();
      const e = native.symmetricEigen(C, n);
      assert.ok(Date.now() - t < 3000);
      checkEigen(C, n, e);
    });

    it('rejects bad arguments', () => {
      assert.throws(() => native.symmetricEigen(new Float64Array(3), 2), /Expected 4 elements in a/);
      assert.throws(() => native.symmetricEigen(new Float32Array(4), 2), /Expected Float64Array for a/);
    });
  });

  it('components are the eigenvectors of the standardized covariance', async () => {
    const { X } = synthetic({ rows: 500, cols: 5, seed: 2 });
    const det = await new PCA({ seed: 1 }).fit(X);
    const d = 5;
    const mean = new Float64Array(d);
    const sd = new Float64Array(d);
    for (let i = 0; i < X.rows; i++) for (let j = 0; j < d; j++) mean[j] += X.data[i * d + j] / X.rows;
    for (let i = 0; i < X.rows; i++) for (let j = 0; j < d; j++) sd[j] += (X.data[i * d + j] - mean[j]) ** 2 / X.rows;
    const C = new Float64Array(d * d);
    for (let i = 0; i < X.rows; i++)
      for (let a = 0; a < d; a++)
        for (let b = 0; b < d; b++)
          C[a * d + b] += (((X.data[i * d + a] - mean[a]) / Math.sqrt(sd[a])) * (X.data[i * d + b] - mean[b])) / Math.sqrt(sd[b]) / (X.rows - 1);
    const v = det.components;
    const lam = det.explainedVariance;
    for (let k = 0; k < d; k++)
      for (let a = 0; a < d; a++) {
        let t = 0;
        for (let b = 0; b < d; b++) t += C[a * d + b] * v[k * d + b];
        assert.ok(Math.abs(t - lam[k] * v[k * d + a]) < 1e-4);
      }
    const ratio = det.explainedVarianceRatio;
    assert.ok(Math.abs(ratio.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    assert.ok(Math.abs(lam.reduce((a, b) => a + b, 0) - (d * X.rows) / (X.rows - 1)) < 1e-6, 'trace of a correlation matrix');
  });

  it('weighted score equals PyOD\'s formula (independent JS reference)', async () => {
    const { X } = synthetic({ rows: 300, cols: 6, seed: 5 });
    const det = await new PCA({ seed: 1 }).fit(X);
    const d = 6;
    const v = det.components;
    const ratio = det.explainedVarianceRatio;
    const mean = det.mean;
    // Recover the standardization from the data (population std).
    const sd = new Float64Array(d);
    for (let i = 0; i < X.rows; i++) for (let j = 0; j < d; j++) sd[j] += (X.data[i * d + j] - mean[j]) ** 2 / X.rows;
    const s = await det.score(X);
    for (let i = 0; i < X.rows; i += 7) {
      let ref = 0;
      for (let k = 0; k < d; k++) {
        let dist = 0;
        for (let j = 0; j < d; j++) dist += ((X.data[i * d + j] - mean[j]) / Math.sqrt(sd[j]) - v[k * d + j]) ** 2;
        ref += Math.sqrt(dist) / ratio[k];
      }
      assert.ok(Math.abs(s[i] - ref) < 1e-4 * ref, `row ${i}: ${s[i]} vs ${ref}`);
    }
  });

  it('reaches AUC floors on shipped and synthetic data (PyOD: cardio 0.9500, thyroid 0.9547)', async () => {
    const cardio = shipped('cardio');
    const thyroid = shipped('thyroid');
    const auc = async (data, opts) => rocAuc(await (await new PCA({ seed: 1, ...opts }).fit(data.X)).score(data.X), data.labels);
    assert.ok(Math.abs((await auc(cardio, {})) - 0.95004) < 2e-3);
    assert.ok(Math.abs((await auc(thyroid, {})) - 0.95474) < 2e-3);
    assert.ok((await auc(cardio, { score: 'projection' })) > 0.88);
    assert.ok((await auc(thyroid, { score: 'projection' })) > 0.92);
    assert.ok((await auc(cardio, { score: 'reconstruction', components: 2 })) > 0.87);
    const syn = synthetic({ rows: 2000, cols: 10, seed: 13 });
    for (const score of ['weighted', 'projection', 'reconstruction']) {
      const a = await auc(syn, { score, ...(score === 'reconstruction' ? { components: 3 } : {}) });
      assert.ok(a > 0.97, `${score}: ${a}`);
    }
  });

  it('chooses components by count or explained variance', async () => {
    const { X } = synthetic({ rows: 1000, cols: 10, seed: 3, rank: 3 });
    const all = await new PCA({ seed: 1 }).fit(X);
    assert.strictEqual(all.nComponents, 10);
    assert.strictEqual((await new PCA({ components: 4, seed: 1 }).fit(X)).nComponents, 4);
    const ratio = all.explainedVarianceRatio;
    const v = await new PCA({ varianceExplained: 0.8, seed: 1 }).fit(X);
    let cum = 0;
    for (let k = 0; k < v.nComponents - 1; k++) cum += ratio[k];
    assert.ok(cum <= 0.8 && cum + ratio[v.nComponents - 1] > 0.8);
    const rec = await new PCA({ score: 'reconstruction', seed: 1 }).fit(X);
    assert.ok(rec.nComponents >= 1 && rec.nComponents < 10);
    const full = await new PCA({ score: 'reconstruction', varianceExplained: 1, seed: 1 }).fit(X);
    assert.strictEqual(full.nComponents, 9);
  });

  it('reconstruction score equals the error of reconstructing from the kept components', async () => {
    const { X } = synthetic({ rows: 200, cols: 7, seed: 6 });
    const det = await new PCA({ score: 'reconstruction', components: 3, seed: 1 }).fit(X);
    const d = 7;
    const v = det.components;
    const mean = det.mean;
    const sd = new Float64Array(d);
    for (let i = 0; i < X.rows; i++) for (let j = 0; j < d; j++) sd[j] += (X.data[i * d + j] - mean[j]) ** 2 / X.rows;
    const s = det.scoreSync(X);
    for (let i = 0; i < X.rows; i += 5) {
      const u = Array.from({ length: d }, (_, j) => (X.data[i * d + j] - mean[j]) / Math.sqrt(sd[j]));
      const rec = new Array(d).fill(0);
      for (let k = 0; k < 3; k++) {
        let p = 0;
        for (let j = 0; j < d; j++) p += u[j] * v[k * d + j];
        for (let j = 0; j < d; j++) rec[j] += p * v[k * d + j];
      }
      let ref = 0;
      for (let j = 0; j < d; j++) ref += (u[j] - rec[j]) ** 2;
      assert.ok(Math.abs(s[i] - ref) < 1e-4 * Math.max(1, ref), `row ${i}: ${s[i]} vs ${ref}`);
    }
  });

  it('tiny eigenvalues are floored: a duplicated column keeps scores finite and ranks unchanged', async () => {
    const { X, labels } = synthetic({ rows: 600, cols: 4, seed: 8 });
    const dup = new Float32Array(600 * 5);
    for (let i = 0; i < 600; i++) {
      for (let j = 0; j < 4; j++) dup[i * 5 + j] = X.data[i * 4 + j];
      dup[i * 5 + 4] = X.data[i * 4 + 1];
    }
    const D = new Matrix(dup, 600, 5);
    for (const score of ['weighted', 'projection']) {
      const det = await new PCA({ score, seed: 1 }).fit(D);
      const s = await det.score(D);
      assert.ok(s.every(Number.isFinite));
      assert.ok(det.explainedVariance[4] < 1e-6);
      assert.ok(rocAuc(s, labels) > 0.9, score);
    }
    // A constant feature: standardization keeps it at scale 1, so it cannot blow up.
    const c = new Float32Array(600 * 5);
    for (let i = 0; i < 600; i++) {
      for (let j = 0; j < 4; j++) c[i * 5 + j] = X.data[i * 4 + j];
      c[i * 5 + 4] = 3;
    }
    const cs = await (await new PCA({ seed: 1 }).fit(new Matrix(c, 600, 5))).score(new Matrix(c, 600, 5));
    assert.ok(cs.every(Number.isFinite));
    await assert.rejects(new PCA().fit(new Matrix(new Float32Array(20).fill(1), 10, 2)), /no variance/);
  });

  it('explain: contributions sum to the score and the injected feature dominates', async () => {
    const { X } = synthetic({ rows: 500, cols: 6, seed: 4, outliers: 0 });
    for (const opts of [{}, { score: 'projection' }, { score: 'reconstruction', components: 3 }]) {
      const det = await new PCA({ seed: 1, ...opts }).fit(X);
      const probe = X.selectRows([0, 1, 2]);
      probe.data[1 * 6 + 2] += 30;
      const ex = await det.explain(probe);
      const s = det.scoreSync(probe);
      for (let i = 0; i < 3; i++) {
        let sum = 0;
        for (let j = 0; j < 6; j++) sum += ex.data[i * 6 + j];
        assert.ok(Math.abs(sum - s[i]) < 1e-3 * Math.max(1, s[i]), `${JSON.stringify(opts)}: ${sum} vs ${s[i]}`);
      }
      const row = Array.from(ex.row(1));
      assert.strictEqual(row.indexOf(Math.max(...row)), 2, JSON.stringify(opts));
    }
  });

  it('fit is deterministic; threads do not change scores; scoreSync equals score', async () => {
    const { X } = synthetic({ rows: 9000, cols: 12, seed: 10 });
    for (const score of ['weighted', 'projection', 'reconstruction']) {
      const a = await new PCA({ score, threads: 1, seed: 1 }).fit(X);
      const b = await new PCA({ score, threads: 2, seed: 2 }).fit(X);
      const sa = await a.score(X);
      assert.deepStrictEqual(await b.score(X), sa);
      assert.deepStrictEqual(a.scoreSync(X), sa);
      assert.strictEqual(a.scoreSync(X.row(77))[0], sa[77]);
    }
  });

  it('every SIMD level matches the scalar reference through the detector', async () => {
    const { X } = synthetic({ rows: 333, cols: 19, seed: 12 });
    for (const opts of [{}, { score: 'projection' }, { score: 'reconstruction', components: 5 }]) {
      const det = await new PCA({ seed: 1, ...opts }).fit(X);
      const runs = await atEachLevel(() => det.scoreSync(X));
      for (const r of runs)
        for (let i = 0; i < X.rows; i++)
          assert.ok(Math.abs(r.result[i] - runs[0].result[i]) <= 1e-4 * Math.max(1, runs[0].result[i]), `${r.level} ${JSON.stringify(opts)} row ${i}`);
    }
  });

  it('save -> load keeps scores exactly', async () => {
    const { X } = synthetic({ rows: 300, cols: 5, seed: 12 });
    for (const opts of [{}, { score: 'projection', components: 3 }, { score: 'reconstruction', standardize: false }]) {
      const det = await new PCA({ seed: 1, ...opts }).fit(X);
      const file = tmpFile('pca.nadir');
      det.save(file);
      const a = PCA.load(file);
      const b = nadir.loadDetector(file);
      assert.ok(b instanceof PCA);
      const s = await det.score(X);
      assert.deepStrictEqual(await a.score(X), s);
      assert.deepStrictEqual(b.scoreSync(X), s);
      assert.deepStrictEqual(await a.explain(X.sliceRows(0, 4)), await det.explain(X.sliceRows(0, 4)));
      assert.strictEqual(a.nComponents, det.nComponents);
    }
  });

  it('rejects bad input and options', async () => {
    assert.throws(() => new PCA({ component: 3 }), /Unknown option 'component'.*Did you mean 'components'/);
    assert.throws(() => new PCA({ score: 'mahalanobis' }), /'weighted', 'projection', 'reconstruction'/);
    assert.throws(() => new PCA({ components: 0 }), /components/);
    assert.throws(() => new PCA({ components: 2.5 }), /components/);
    assert.throws(() => new PCA({ varianceExplained: 0 }), /varianceExplained/);
    assert.throws(() => new PCA({ varianceExplained: 1.5 }), /varianceExplained/);
    assert.throws(() => new PCA({ components: 2, varianceExplained: 0.5 }), /pass one/);
    assert.throws(() => new PCA({ standardize: 'yes' }), /standardize/);
    const det = new PCA({ seed: 1 });
    assert.throws(() => det.scoreSync([1, 2, 3]), /not fitted/);
    await assert.rejects(det.explain([[1, 2, 3]]), /not fitted/);
    await assert.rejects(det.fit({ data: new Float32Array(0), rows: 0, cols: 3 }), /empty/);
    await assert.rejects(det.fit([[1, 2, 3]]), /needs at least 2/);
    await assert.rejects(det.fit([[1, Infinity], [2, 3]]), /Infinity|non-finite|Inf/);
    const { X } = synthetic({ rows: 50, cols: 3, seed: 1 });
    await assert.rejects(new PCA({ components: 4 }).fit(X), /only 3 features/);
    await assert.rejects(new PCA({ score: 'reconstruction', components: 3 }).fit(X), /reconstructs every row exactly/);
    await assert.rejects(new PCA({ score: 'reconstruction' }).fit(new Matrix(new Float32Array([1, 2, 3]), 3, 1)), /at least 2 features/);
    await det.fit(X);
    assert.throws(() => det.scoreSync([1, 2]), /columns|3/);
    assert.throws(() => det.scoreSync([[1, NaN, 2]]), /NaN/);
    assert.throws(() => native.pcaReconstructionError(X.data, 50, 3, new Float32Array(3), new Float32Array(3), new Float32Array(6), 3, new Float32Array(50), null), /Expected 9 elements in components/);
    assert.throws(() => native.pcaReconstructionError(X.data, 50, 3, new Float32Array(3), new Float32Array(3), new Float32Array(12), 4, new Float32Array(50), null), /k/);
  });
});
