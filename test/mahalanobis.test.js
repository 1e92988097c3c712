'use strict';
const assert = require('assert');
const nadir = require('..');
const { native } = require('../dist/binding');
const { rng, gaussian, synthetic, shipped, atEachLevel, simdLevels, maxAbsDiff, tmpFile } = require('./helpers');
const { Mahalanobis, Matrix, rocAuc } = nadir;

// Correlated Gaussian inliers plus a tight cluster of anomalies (which drags a classical fit).
function clustered({ rows = 1200, cols = 5, share = 0.15, seed = 7 } = {}) {
  const rand = rng(seed);
  const data = new Float32Array(rows * cols);
  const labels = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    const out = rand() < share;
    labels[i] = out ? 1 : 0;
    const z = gaussian(rand);
    for (let j = 0; j < cols; j++) {
      data[i * cols + j] = out ? 3 + 0.3 * gaussian(rand) : z + 0.5 * gaussian(rand);
      if (out && j === 1) data[i * cols + j] = -3 + 0.3 * gaussian(rand);
    }
  }
  return { X: new Matrix(data, rows, cols), labels };
}

// Independent JS reference: squared Mahalanobis distance from mean and covariance (Gaussian elimination).
function referenceScores(X, loc, cov) {
  const d = X.cols;
  const out = new Float64Array(X.rows);
  for (let i = 0; i < X.rows; i++) {
    const A = Array.from({ length: d }, (_, r) => [...Array.from({ length: d }, (_, c) => cov[r * d + c]), X.data[i * d + r] - loc[r]]);
    for (let c = 0; c < d; c++) {
      for (let r = c + 1; r < d; r++) {
        const f = A[r][c] / A[c][c];
        for (let k = c; k <= d; k++) A[r][k] -= f * A[c][k];
      }
    }
    const y = new Array(d);
    for (let r = d - 1; r >= 0; r--) {
      let s = A[r][d];
      for (let k = r + 1; k < d; k++) s -= A[r][k] * y[k];
      y[r] = s / A[r][r];
    }
    let s = 0;
    for (let r = 0; r < d; r++) s += (X.data[i * d + r] - loc[r]) * y[r];
    out[i] = s;
  }
  return out;
}

describe('Mahalanobis', () => {
  it('classical scores equal the squared distance from mean and covariance', async () => {
    const { X } = synthetic({ rows: 300, cols: 6, seed: 3 });
    const det = await new Mahalanobis({ seed: 1 }).fit(X);
    const s = await det.score(X);
    const ref = referenceScores(X, det.location, det.covariance);
    for (let i = 0; i < X.rows; i++) assert.ok(Math.abs(s[i] - ref[i]) < 1e-3 * Math.max(1, ref[i]), `row ${i}: ${s[i]} vs ${ref[i]}`);
    assert.strictEqual(det.regularization, 0);
    assert.strictEqual(det.support, 300);
  });

  it('matches scikit-learn on shipped data (classical exactly, MinCovDet closely)', async () => {
    // Measured offline with scikit-learn 1.2: EmpiricalCovariance 0.89645 (cardio), 0.93419 (thyroid);
    // MinCovDet 0.780-0.811 (cardio, seeds 0-2), 0.98568 (thyroid).
    const cardio = shipped('cardio');
    const thyroid = shipped('thyroid');
    const c = await new Mahalanobis({ seed: 1 }).fit(cardio.X);
    assert.ok(Math.abs(rocAuc(await c.score(cardio.X), cardio.labels) - 0.89645) < 2e-3);
    // cardio holds an exactly dependent feature triple: the minimal ridge kicks in.
    assert.ok(c.regularization > 0 && c.regularization <= 1e-6, `regularization ${c.regularization}`);
    const t = await new Mahalanobis({ seed: 1 }).fit(thyroid.X);
    assert.ok(Math.abs(rocAuc(await t.score(thyroid.X), thyroid.labels) - 0.93419) < 2e-3);
    const rt = await new Mahalanobis({ method: 'robust', seed: 1 }).fit(thyroid.X);
    assert.ok(rocAuc(await rt.score(thyroid.X), thyroid.labels) > 0.98);
    const rc = await new Mahalanobis({ method: 'robust', seed: 1 }).fit(cardio.X);
    assert.ok(rocAuc(await rc.score(cardio.X), cardio.labels) > 0.75);
  });

  it('reaches AUC floors on seeded synthetic data', async () => {
    const { X, labels } = synthetic({ rows: 2000, cols: 8, seed: 11 });
    for (const method of ['classical', 'robust']) {
      const det = await new Mahalanobis({ method, seed: 2 }).fit(X);
      const auc = rocAuc(await det.score(X), labels);
      assert.ok(auc > 0.97, `${method}: ${auc}`);
    }
  });

  it('robust beats classical on data with a cluster of anomalies', async () => {
    const { X, labels } = clustered();
    const cl = rocAuc(await (await new Mahalanobis({ seed: 1 }).fit(X)).score(X), labels);
    const rb = await new Mahalanobis({ method: 'robust', seed: 1 }).fit(X);
    const ra = rocAuc(await rb.score(X), labels);
    assert.ok(ra > 0.99 && ra > cl + 0.05, `robust ${ra} vs classical ${cl}`);
    assert.ok(rb.support < X.rows * 0.9 && rb.support > X.rows * 0.7, `support ${rb.support}`);
  });

  it('robust fit is deterministic for a seed and independent of threads', async () => {
    const { X } = shipped('cardio');
    const a = await (await new Mahalanobis({ method: 'robust', seed: 5, threads: 1 }).fit(X)).score(X);
    const b = await (await new Mahalanobis({ method: 'robust', seed: 5, threads: 2 }).fit(X)).score(X);
    assert.deepStrictEqual(a, b);
    let differs = false;
    for (const seed of [6, 7, 8]) {
      const c = await (await new Mahalanobis({ method: 'robust', seed, threads: 1 }).fit(X)).score(X);
      if (maxAbsDiff(a, c) > 0) differs = true;
    }
    assert.ok(differs, 'different seeds should pick different subsets on cardio');
  });

  it('small n (all starts on the full data) is accurate and thread-independent', async () => {
    const { X, labels } = clustered({ rows: 400, cols: 3, share: 0.2, seed: 4 });
    const a = await new Mahalanobis({ method: 'robust', seed: 9, threads: 1 }).fit(X);
    const b = await new Mahalanobis({ method: 'robust', seed: 9, threads: 2 }).fit(X);
    const sa = await a.score(X);
    assert.deepStrictEqual(await b.score(X), sa);
    assert.ok(rocAuc(sa, labels) > 0.99);
  });

  it('large n uses subsampled FastMCD and stays accurate', async () => {
    const { X, labels } = clustered({ rows: 6000, cols: 4, share: 0.1, seed: 9 });
    const det = await new Mahalanobis({ method: 'robust', seed: 3, trials: 100 }).fit(X);
    assert.ok(rocAuc(await det.score(X), labels) > 0.99);
  });

  it('shrinkage: fixed weight and Ledoit-Wolf', async () => {
    const { X } = shipped('cardio');
    const lw = await new Mahalanobis({ shrinkage: 'auto', seed: 1 }).fit(X);
    // scikit-learn's ledoit_wolf_shrinkage on cardio: 0.016273.
    assert.ok(Math.abs(lw.shrinkage - 0.016273) < 5e-4, `${lw.shrinkage}`);
    assert.strictEqual(lw.regularization, 0);
    const half = await new Mahalanobis({ shrinkage: 0.5, seed: 1 }).fit(X);
    const plain = await new Mahalanobis({ seed: 1 }).fit(X);
    const d = X.cols;
    const pc = plain.covariance;
    let mu = 0;
    for (let j = 0; j < d; j++) mu += pc[j * d + j] / d;
    const hc = half.covariance;
    assert.ok(Math.abs(hc[1] - 0.5 * pc[1]) < 1e-9 && Math.abs(hc[0] - (0.5 * pc[0] + 0.5 * mu)) < 1e-9);
    // Shrinkage allows fitting fewer rows than features.
    const few = X.sliceRows(0, 10);
    await assert.rejects(new Mahalanobis().fit(few), /needs at least 22.*shrinkage/);
    const s = await (await new Mahalanobis({ shrinkage: 'auto' }).fit(few)).score(X.sliceRows(0, 50));
    assert.ok(s.every(Number.isFinite));
    const rs = await new Mahalanobis({ method: 'robust', shrinkage: 'auto', seed: 1 }).fit(shipped('thyroid').X);
    assert.ok(rs.shrinkage >= 0 && rs.shrinkage < 1);
  });

  it('singular covariance: a duplicated column gets a minimal ridge, a constant column flags deviations', async () => {
    const { X } = synthetic({ rows: 400, cols: 4, seed: 21 });
    const dup = new Float32Array(400 * 5);
    for (let i = 0; i < 400; i++) {
      for (let j = 0; j < 4; j++) dup[i * 5 + j] = X.data[i * 4 + j];
      dup[i * 5 + 4] = X.data[i * 4 + 2];
    }
    const base = await new Mahalanobis({ seed: 1 }).fit(X);
    const det = await new Mahalanobis({ seed: 1 }).fit(new Matrix(dup, 400, 5));
    assert.ok(det.regularization >= 1e-9 && det.regularization <= 1e-6);
    const a = await base.score(X);
    const b = await det.score(new Matrix(dup, 400, 5));
    for (let i = 0; i < 400; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-2 * Math.max(1, a[i]), `row ${i}: ${a[i]} vs ${b[i]}`);
    // Constant column: rows keeping it score as before; a row leaving it is extreme.
    const withConst = new Float32Array(400 * 5);
    for (let i = 0; i < 400; i++) {
      for (let j = 0; j < 4; j++) withConst[i * 5 + j] = X.data[i * 4 + j];
      withConst[i * 5 + 4] = 2;
    }
    const cdet = await new Mahalanobis({ seed: 1 }).fit(new Matrix(withConst, 400, 5));
    assert.ok(cdet.regularization > 0);
    const row = withConst.slice(0, 5);
    const normal = cdet.scoreSync(row)[0];
    assert.ok(Math.abs(normal - a[0]) < 1e-2 * Math.max(1, a[0]));
    row[4] = 2.5;
    assert.ok(cdet.scoreSync(row)[0] > 1e6);
  });

  it('explain: shares sum to the score and the injected feature dominates', async () => {
    const { X } = synthetic({ rows: 500, cols: 6, seed: 4, outliers: 0 });
    const det = await new Mahalanobis({ seed: 1 }).fit(X);
    const probe = X.selectRows([0, 1, 2]);
    probe.data[1 * 6 + 3] += 25;
    const ex = await det.explain(probe);
    assert.strictEqual(ex.rows, 3);
    assert.strictEqual(ex.cols, 6);
    const s = det.scoreSync(probe);
    for (let i = 0; i < 3; i++) {
      let sum = 0;
      for (let j = 0; j < 6; j++) sum += ex.data[i * 6 + j];
      assert.ok(Math.abs(sum - s[i]) < 1e-3 * Math.max(1, s[i]), `${sum} vs ${s[i]}`);
    }
    const row = Array.from(ex.row(1));
    assert.strictEqual(row.indexOf(Math.max(...row)), 3);
  });

  it('scoreSync of one row equals batch scoring', async () => {
    const { X } = synthetic({ rows: 200, cols: 10, seed: 8 });
    const det = await new Mahalanobis({ seed: 1 }).fit(X);
    const all = await det.score(X);
    for (const i of [0, 17, 199]) assert.strictEqual(det.scoreSync(X.row(i))[0], all[i]);
    assert.deepStrictEqual(det.scoreSync(X), all);
  });

  it('small batches (scored inline) equal the same rows in a large batch (scored in a job)', async () => {
    const { X } = synthetic({ rows: 20001, cols: 12, seed: 9 });
    const det = await new Mahalanobis({ seed: 1, threads: 1 }).fit(X);
    const all = await det.score(X);
    for (const [start, n] of [[0, 1], [5, 37], [1000, 300]]) {
      const part = new nadir.Matrix(X.data.slice(start * 12, (start + n) * 12), n, 12);
      assert.deepStrictEqual(await det.score(part), all.subarray(start, start + n));
    }
    await assert.rejects(det.score([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, NaN]]), /NaN/);
  });

  it('save -> load keeps scores exactly', async () => {
    const { X } = synthetic({ rows: 300, cols: 5, seed: 12 });
    for (const opts of [{ seed: 1 }, { method: 'robust', seed: 2, shrinkage: 0.1 }]) {
      const det = await new Mahalanobis(opts).fit(X);
      const file = tmpFile('maha.nadir');
      det.save(file);
      const a = Mahalanobis.load(file);
      const b = nadir.loadDetector(file);
      assert.ok(b instanceof Mahalanobis);
      const s = await det.score(X);
      assert.deepStrictEqual(await a.score(X), s);
      assert.deepStrictEqual(b.scoreSync(X), s);
      assert.strictEqual(a.threshold, det.threshold);
      assert.strictEqual(a.support, det.support);
      assert.deepStrictEqual(a.location, det.location);
    }
  });

  it('rejects a model file whose arrays do not match', async () => {
    const { X } = synthetic({ rows: 100, cols: 3, seed: 1 });
    const det = await new Mahalanobis({ seed: 1 }).fit(X);
    const state = det.exportState();
    state.arrays.whitening = new Float32Array(5);
    assert.throws(() => new Mahalanobis().importState.call(Object.assign(Object.create(Mahalanobis.prototype), det), state), /whitening/);
  });

  describe('projection kernel: every SIMD level matches the scalar reference', () => {
    for (const d of [1, 3, 7, 10, 16, 17, 33, 70]) {
      it(`d=${d}`, async () => {
        const rand = rng(100 + d);
        for (const rows of [1, 5, 16, 17, 37]) {
          for (const k of [d, Math.max(1, d >> 1), d + 3]) {
            const x = Float32Array.from({ length: rows * d }, () => rand() * 4 - 2);
            const c = Float32Array.from({ length: d }, () => rand() - 0.5);
            const w = Float32Array.from({ length: k * d }, () => rand() - 0.5);
            const lower = k === d;
            if (lower) for (let r = 0; r < d; r++) for (let j = r + 1; j < d; j++) w[r * d + j] = 0;
            const weight = Float32Array.from({ length: k }, () => rand());
            const scale = Float32Array.from({ length: d }, () => 0.2 + rand());
            for (const mode of [0, 1, 2]) {
              const n = mode === 2 ? rows * k : rows;
              const ref = new Float32Array(n);
              native.projectRowsScalar(x, rows, d, c, w, k, lower, mode, weight, scale, ref);
              // Independent check of the reference for the sum of squares.
              if (mode === 0) {
                for (let i = 0; i < rows; i++) {
                  let s = 0;
                  for (let r = 0; r < k; r++) {
                    let p = 0;
                    for (let j = 0; j < d; j++) p += w[r * d + j] * (x[i * d + j] - c[j]);
                    s += p * p;
                  }
                  assert.ok(Math.abs(ref[i] - s) < 1e-4 * Math.max(1, s));
                }
              }
              const runs = await atEachLevel(() => {
                const out = new Float32Array(n);
                native.projectRows(x, rows, d, c, w, k, lower, mode, weight, scale, out);
                return out;
              });
              for (const run of runs)
                for (let i = 0; i < n; i++)
                  assert.ok(Math.abs(run.result[i] - ref[i]) <= 1e-5 * Math.max(1, Math.abs(ref[i])) * d, `${run.level} mode ${mode} rows ${rows} k ${k} i ${i}: ${run.result[i]} vs ${ref[i]}`);
            }
          }
        }
      });
    }

    it('the few-rows latency path is bit-identical to the batch kernel at each level', async () => {
      const rand = rng(77);
      for (const d of [1, 5, 10, 17, 40, 90]) {
        for (const k of [d, Math.max(1, d - 3), d + 9]) {
          const lower = k === d && d % 2 === 0;
          const rows = 40;
          const x = Float32Array.from({ length: rows * d }, () => rand() * 6 - 3);
          const c = Float32Array.from({ length: d }, () => rand() - 0.5);
          const w = Float32Array.from({ length: k * d }, () => rand() - 0.5);
          if (lower) for (let r = 0; r < d; r++) for (let j = r + 1; j < d; j++) w[r * d + j] = 0;
          const wt = new Float32Array(d * k);
          for (let r = 0; r < k; r++) for (let j = 0; j < d; j++) wt[j * k + r] = w[r * d + j];
          const weight = Float32Array.from({ length: k }, () => rand());
          const scale = Float32Array.from({ length: d }, () => 0.2 + rand());
          await atEachLevel((level) => {
            for (const mode of [0, 1, 2]) {
              const per = mode === 2 ? k : 1;
              const batch = new Float32Array(rows * per);
              native.projectRows(x, rows, d, c, w, k, lower, mode, weight, scale, batch);
              for (const start of [0, 13, 37]) {
                const n = Math.min(rows - start, 1 + (start % 4));
                const few = new Float32Array(n * per);
                native.projectRows(x.subarray(start * d, (start + n) * d), n, d, c, w, k, lower, mode, weight, scale, few, wt);
                assert.deepStrictEqual(few, batch.subarray(start * per, (start + n) * per), `${level} d=${d} k=${k} mode=${mode} start=${start}`);
              }
            }
          });
        }
      }
      assert.throws(() => native.projectRows(new Float32Array(3), 1, 3, new Float32Array(3), new Float32Array(9), 3, true, 0, null, null, new Float32Array(1), new Float32Array(8)), /Expected 9 elements in transposed/);
    });

    it('full 16-row blocks (transposed by shuffles, 16 features at a time) equal rows scored one by one', async () => {
      const rand = rng(78);
      for (const d of [1, 2, 7, 10, 16, 17, 33, 70]) {
        const rows = 97; // three full 32-row groups, then a 1-row block
        const x = Float32Array.from({ length: rows * d }, () => rand() * 6 - 3);
        const c = Float32Array.from({ length: d }, () => rand() - 0.5);
        const w = Float32Array.from({ length: d * d }, () => rand() - 0.5);
        const weight = Float32Array.from({ length: d }, () => rand());
        const scale = Float32Array.from({ length: d }, () => 0.2 + rand());
        await atEachLevel((level) => {
          for (const mode of [0, 1, 2]) {
            const per = mode === 2 ? d : 1;
            const batch = new Float32Array(rows * per);
            native.projectRows(x, rows, d, c, w, d, false, mode, weight, scale, batch);
            const one = new Float32Array(rows * per);
            for (let i = 0; i < rows; i++) native.projectRows(x.subarray(i * d, (i + 1) * d), 1, d, c, w, d, false, mode, weight, scale, one.subarray(i * per, (i + 1) * per));
            assert.deepStrictEqual(batch, one, `${level} d=${d} mode=${mode}`);
          }
        });
      }
    });

    it('threaded batch scoring equals single-threaded at each level', async () => {
      const { X } = synthetic({ rows: 20001, cols: 10, seed: 2 });
      const det = await new Mahalanobis({ seed: 1, threads: 1 }).fit(X);
      const runs = await atEachLevel(async () => {
        const a = await det.score(X);
        const b = await new Mahalanobis({ seed: 1, threads: 3 }).fit(X).then((m) => m.score(X));
        assert.deepStrictEqual(a, b);
        return a;
      });
      assert.strictEqual(runs.length, simdLevels().length);
      for (const r of runs) assert.ok(maxAbsDiff(r.result, runs[0].result) < 1e-3);
    });
  });

  it('chi-squared quantiles match known values', () => {
    assert.ok(Math.abs(native.chi2Quantile(0.5, 21) - 20.337227) < 1e-5);
    assert.ok(Math.abs(native.chi2Quantile(0.975, 6) - 14.449375) < 1e-5);
    assert.ok(Math.abs(native.chi2Quantile(0.975, 1) - 5.023886) < 1e-5);
  });

  it('rejects bad input and options', async () => {
    assert.throws(() => new Mahalanobis({ methd: 'robust' }), /Unknown option 'methd'.*Did you mean 'method'/);
    assert.throws(() => new Mahalanobis({ method: 'mcd' }), /'classical', 'robust'.*'method'/);
    assert.throws(() => new Mahalanobis({ shrinkage: 2 }), /shrinkage/);
    assert.throws(() => new Mahalanobis({ shrinkage: 'lw' }), /'auto' for Mahalanobis option 'shrinkage'/);
    assert.throws(() => new Mahalanobis({ method: 'robust', supportFraction: 0 }), /supportFraction/);
    assert.throws(() => new Mahalanobis({ method: 'robust', trials: 0 }), /trials/);
    assert.throws(() => new Mahalanobis({ supportFraction: 0.8 }), /only applies to method 'robust'/);
    const det = new Mahalanobis({ seed: 1 });
    assert.throws(() => det.scoreSync([1, 2, 3]), /not fitted/);
    await assert.rejects(det.score([[1, 2]]), /not fitted/);
    await assert.rejects(det.fit({ data: new Float32Array(0), rows: 0, cols: 3 }), /empty/);
    await assert.rejects(det.fit([[1, NaN], [2, 3], [3, 4]]), /NaN/);
    await assert.rejects(det.fit([[1, 2], [3, 4]]), /needs at least 3/);
    await assert.rejects(new Mahalanobis({ method: 'robust', supportFraction: 0.1 }).fit(synthetic({ rows: 20, cols: 4 }).X), /at least 5.*supportFraction/);
    const { X } = synthetic({ rows: 100, cols: 3, seed: 1 });
    await det.fit(X);
    assert.throws(() => det.scoreSync([1, 2]), /columns|3/);
    assert.throws(() => det.scoreSync([[1, 2, NaN]]), /NaN/);
    assert.throws(() => native.gaussianFitAsync(Float32Array.of(1, 2, NaN, 4, 5, 6), 3, 2, true, -1, 3, 10, 1, 1), /Expected finite values in x/);
    assert.throws(() => native.gaussianFitAsync(new Float32Array(6), 3, 2, true, -1, 4, 10, 1, 1), /support/);
    assert.throws(() => native.projectRows(X.data, 100, 3, new Float32Array(2), new Float32Array(9), 3, true, 0, null, null, new Float32Array(100)), /Expected 3 elements in center/);
    assert.throws(() => native.projectRows(X.data, 100, 3, new Float32Array(3), new Float32Array(9), 3, true, 1, null, null, new Float32Array(100)), /Expected Float32Array for weight/);
  });
});
