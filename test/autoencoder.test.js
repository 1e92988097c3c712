'use strict';
const assert = require('assert');
const nadir = require('..');
const { shipped, synthetic, tmpFile, maxAbsDiff, maxRelDiff, atEachLevel } = require('./helpers');

describe('AutoEncoder', () => {
  const cardio = shipped('cardio');
  const syn = synthetic({ rows: 1000, cols: 10, seed: 3 });
  let fitted; // default options on cardio, seed 1

  before(async () => {
    fitted = new nadir.AutoEncoder({ seed: 1, threads: 1 });
    await fitted.fit(cardio.X);
  });

  it('has PyOD-like defaults: features -> 64 -> 32 -> 64 -> features, ReLU, linear output', () => {
    const net = fitted.network;
    assert.strictEqual(net.kind, 'autoencoder');
    assert.deepStrictEqual(net.layers.map((l) => [l.inputs, l.outputs, l.activation]), [
      [21, 64, 'relu'], [64, 32, 'relu'], [32, 64, 'relu'], [64, 21, 'identity'],
    ]);
    assert.strictEqual(net.mean.length, 21);
    assert.ok(net.layers.every((l) => l.weight instanceof Float32Array && !l.norm));
    assert.ok(fitted.history.loss.length >= 11 && fitted.history.loss.length <= 100);
  });

  it('reaches the AUC floor on cardio (shipped) and on seeded synthetic data', async () => {
    assert.ok(nadir.rocAuc(await fitted.score(cardio.X), cardio.labels) > 0.72);
    const ae = new nadir.AutoEncoder({ seed: 2, threads: 1, epochs: 30 });
    await ae.fit(syn.X);
    assert.ok(nadir.rocAuc(await ae.score(syn.X), syn.labels) > 0.97);
    const ln = new nadir.AutoEncoder({ seed: 2, threads: 1, epochs: 30, normalization: 'layer', activation: 'tanh' });
    await ln.fit(syn.X);
    assert.ok(nadir.rocAuc(await ln.score(syn.X), syn.labels) > 0.95);
  });

  it('score = squared reconstruction error in standardized units; scoreSync, score and explain agree', async () => {
    const X = cardio.X.sliceRows(0, 50);
    // Batch score runs the exported model in ONNX Runtime, scoreSync the native pass: equal within float error.
    const s = fitted.scoreSync(X);
    assert.ok(maxRelDiff(await fitted.score(X), s) <= 1e-4);
    assert.deepStrictEqual(fitted.scoreSync(cardio.X.row(7)), s.subarray(7, 8));
    const ex = await fitted.explain(X);
    assert.strictEqual(ex.rows, 50);
    assert.strictEqual(ex.cols, 21);
    for (let i = 0; i < 50; i++) {
      let sum = 0;
      for (let j = 0; j < 21; j++) sum += ex.data[i * 21 + j];
      assert.ok(Math.abs(sum - s[i]) <= 1e-4 * (1 + s[i]));
    }
    // Same number through the public kernel and the reconstruction.
    const R = await fitted.reconstruct(X);
    const { mean, std } = fitted.network;
    const z = new Float32Array(X.data.length);
    const zr = new Float32Array(X.data.length);
    for (let k = 0; k < z.length; k++) {
      z[k] = (X.data[k] - mean[k % 21]) / std[k % 21];
      zr[k] = (R.data[k] - mean[k % 21]) / std[k % 21];
    }
    const ref = nadir.reconstructionError({ data: z, rows: 50, cols: 21 }, { data: zr, rows: 50, cols: 21 }).scores;
    assert.ok(maxAbsDiff(ref, s) < 1e-3);
  });

  it('explain points at the feature an outlier was pushed on', async () => {
    const row = Float32Array.from(cardio.X.row(3));
    const { std } = fitted.network;
    row[5] += 12 * std[5];
    const ex = await fitted.explain(row);
    const top = ex.data.indexOf(Math.max(...ex.data));
    assert.strictEqual(top, 5);
    assert.ok(fitted.scoreSync(row)[0] > fitted.threshold);
  });

  it('gives bit-identical scores for the same seed and different ones for another seed', async () => {
    const X = syn.X;
    const o = { epochs: 5, threads: 1 };
    const [a, b, c] = [new nadir.AutoEncoder({ ...o, seed: 9 }), new nadir.AutoEncoder({ ...o, seed: 9 }), new nadir.AutoEncoder({ ...o, seed: 10 })];
    await Promise.all([a.fit(X), b.fit(X), c.fit(X)]);
    assert.deepStrictEqual(await a.score(X), await b.score(X));
    assert.notDeepStrictEqual(await a.score(X), await c.score(X));
    // Batch scoring does not depend on the thread count (at batch 32 training runs on one thread
    // whatever `threads` says, so both models hold the same weights).
    const big = synthetic({ rows: 5000, cols: 10, seed: 8 }).X;
    const t4 = new nadir.AutoEncoder({ ...o, seed: 9, threads: 4 });
    await t4.fit(X);
    assert.deepStrictEqual(t4.network.layers[0].weight, a.network.layers[0].weight);
    assert.deepStrictEqual(await t4.score(big), await a.score(big));
  });

  it('scores agree across SIMD levels', async () => {
    const X = cardio.X.sliceRows(0, 200);
    const runs = await atEachLevel(() => fitted.score(X));
    for (const r of runs) assert.ok(maxAbsDiff(r.result, runs[0].result) < 1e-3, r.level);
  });

  it('save -> load round trip gives exactly the same scores, network and threshold', async () => {
    const file = tmpFile('ae.nadir');
    fitted.save(file);
    const a = nadir.AutoEncoder.load(file);
    const b = nadir.loadDetector(file);
    assert.ok(b instanceof nadir.AutoEncoder);
    const s = await fitted.score(cardio.X);
    assert.deepStrictEqual(await a.score(cardio.X), s);
    assert.deepStrictEqual(b.scoreSync(cardio.X), fitted.scoreSync(cardio.X));
    assert.strictEqual(a.threshold, fitted.threshold);
    assert.deepStrictEqual(a.network.layers[2].weight, fitted.network.layers[2].weight);
    assert.deepStrictEqual(a.history.loss, fitted.history.loss);
    assert.deepStrictEqual(a.normalize(s), fitted.normalize(s));
    assert.deepStrictEqual(await a.predict(cardio.X), await fitted.predict(cardio.X));
    assert.throws(() => nadir.VariationalAutoEncoder.load(file), /holds a AutoEncoder, not a VariationalAutoEncoder/);
    // onEpoch and signal are not part of the saved options.
    const hooked = new nadir.AutoEncoder({ seed: 1, epochs: 2, threads: 1, onEpoch: () => {}, signal: new AbortController().signal });
    await hooked.fit(syn.X);
    assert.deepStrictEqual(Object.keys(hooked.config).sort(), ['epochs', 'seed', 'threads']);
    assert.deepStrictEqual(nadir.detectorFromBytes(hooked.toBytes()).scoreSync(syn.X), hooked.scoreSync(syn.X));
  });

  it('layer normalization and other activations train and round-trip', async () => {
    const ae = new nadir.AutoEncoder({ seed: 4, threads: 1, epochs: 3, hiddenLayers: [16, 8, 4], normalization: 'layer', activation: 'sigmoid', dropout: 0 });
    await ae.fit(syn.X);
    assert.deepStrictEqual(ae.network.layers.map((l) => l.outputs), [16, 8, 4, 8, 16, 10]);
    assert.ok(ae.network.layers[0].norm.gamma.length === 16 && ae.network.layers[0].norm.epsilon === 1e-5);
    const back = nadir.detectorFromBytes(ae.toBytes());
    assert.deepStrictEqual(back.scoreSync(syn.X), ae.scoreSync(syn.X));
  });

  it('rejects bad input and bad options with clear errors', async () => {
    assert.throws(() => new nadir.AutoEncoder({ hiddenLayer: [3] }), /Unknown option 'hiddenLayer'.*Did you mean 'hiddenLayers'/);
    assert.throws(() => new nadir.AutoEncoder({ hiddenLayers: [] }), /non-empty array of layer sizes/);
    assert.throws(() => new nadir.AutoEncoder({ hiddenLayers: [4, 2.5] }), /layer sizes/);
    assert.throws(() => new nadir.AutoEncoder({ activation: 'gelu' }), /'activation'/);
    assert.throws(() => new nadir.AutoEncoder({ dropout: 1 }), /'dropout'/);
    assert.throws(() => new nadir.AutoEncoder({ learningRate: 0 }), /'learningRate'/);
    assert.throws(() => new nadir.AutoEncoder({ batchSize: 0 }), /'batchSize'/);
    assert.throws(() => new nadir.AutoEncoder({ normalization: 'batch' }), /'normalization'/);
    assert.throws(() => new nadir.AutoEncoder({ onEpoch: 3 }), /function for AutoEncoder option 'onEpoch'/);
    assert.throws(() => new nadir.AutoEncoder({ signal: {} }), /AbortSignal/);
    const fresh = new nadir.AutoEncoder({ epochs: 1 });
    assert.throws(() => fresh.scoreSync([1, 2]), nadir.NotFittedError);
    await assert.rejects(fresh.score([[1, 2]]), nadir.NotFittedError);
    assert.throws(() => fresh.network, nadir.NotFittedError);
    await assert.rejects(fresh.fit([]), /empty|0 values/);
    await assert.rejects(fresh.fit([[1, 2]]), /needs at least 2/);
    await assert.rejects(fresh.fit([[1, NaN], [2, 3]]), /NaN at row 0, column 1/);
    assert.throws(() => fitted.scoreSync(new Float32Array(20)), /not a whole number of rows of 21/);
    await assert.rejects(fitted.score([[1, 2, 3]]), /3 columns but this AutoEncoder was fitted on 21/);
    const bad = Float32Array.from(cardio.X.row(0));
    bad[4] = Infinity;
    assert.throws(() => fitted.scoreSync(bad), /Infinity at row 0, column 4/);
    assert.strictEqual((await fitted.score({ data: new Float32Array(0), rows: 0, cols: 21 })).length, 0);
  });

  it('handles constant columns (only centered) and tiny data', async () => {
    const rows = [];
    for (let i = 0; i < 40; i++) rows.push([i % 7, 5, (i * 3) % 11]);
    const ae = new nadir.AutoEncoder({ seed: 1, epochs: 5, threads: 1 });
    await ae.fit(rows);
    assert.strictEqual(ae.network.std[1], 1);
    assert.strictEqual(ae.network.mean[1], 5);
    const s = ae.scoreSync([[3, 5, 4], [3, 50, 4]]);
    assert.ok(s[1] > s[0]);
    // validationSplit 0: no early stopping, every epoch runs.
    const noval = new nadir.AutoEncoder({ seed: 1, epochs: 4, validationSplit: 0, threads: 1 });
    await noval.fit(rows);
    assert.strictEqual(noval.history.loss.length, 4);
    assert.ok(Number.isNaN(noval.history.valLoss[0]));
  });
});
