'use strict';
const assert = require('assert');
const nadir = require('..');
const { shipped, synthetic, tmpFile, maxAbsDiff, maxRelDiff, atEachLevel } = require('./helpers');

describe('VariationalAutoEncoder', () => {
  const cardio = shipped('cardio');
  const syn = synthetic({ rows: 1000, cols: 10, seed: 3 });
  let fitted;

  before(async () => {
    fitted = new nadir.VariationalAutoEncoder({ seed: 1, threads: 1 });
    await fitted.fit(cardio.X);
  });

  it('builds encoder -> (mu, logVar) -> decoder with the documented defaults', () => {
    const net = fitted.network;
    assert.strictEqual(net.kind, 'vae');
    assert.deepStrictEqual(net.encoder.map((l) => [l.inputs, l.outputs]), [[21, 64], [64, 32]]);
    assert.deepStrictEqual([net.mu.inputs, net.mu.outputs, net.logVar.outputs], [32, 8, 8]);
    assert.deepStrictEqual(net.decoder.map((l) => [l.inputs, l.outputs, l.activation]), [[8, 32, 'relu'], [32, 64, 'relu'], [64, 21, 'identity']]);
    assert.strictEqual(net.beta, 1);
    assert.strictEqual(fitted.latentSize, 8);
  });

  it('reaches the AUC floor on cardio and on seeded synthetic data', async () => {
    assert.ok(nadir.rocAuc(await fitted.score(cardio.X), cardio.labels) > 0.75);
    const v = new nadir.VariationalAutoEncoder({ seed: 2, threads: 1, epochs: 30, latentSize: 2 });
    await v.fit(syn.X);
    assert.ok(nadir.rocAuc(await v.score(syn.X), syn.labels) > 0.97);
    const mc = new nadir.VariationalAutoEncoder({ seed: 2, threads: 1, epochs: 30, score: 'mc', samples: 8 });
    await mc.fit(syn.X);
    assert.ok(nadir.rocAuc(await mc.score(syn.X), syn.labels) > 0.97);
  });

  it('mean score = reconstruction error of the decoded mean + beta * KL, computed by hand from the network', async () => {
    const net = fitted.network;
    const x = cardio.X.row(11);
    const d = 21;
    const dense = (l, v) => {
      const out = new Float64Array(l.outputs);
      for (let o = 0; o < l.outputs; o++) {
        let s = l.bias[o];
        for (let i = 0; i < l.inputs; i++) s += l.weight[o * l.inputs + i] * v[i];
        out[o] = l.activation === 'relu' ? Math.max(0, s) : s;
      }
      return out;
    };
    const z = Float64Array.from(x, (v, j) => (v - net.mean[j]) / net.std[j]);
    let h = z;
    for (const l of net.encoder) h = dense(l, h);
    const mu = dense(net.mu, h);
    const lv = dense(net.logVar, h);
    let r = mu;
    for (const l of net.decoder) r = dense(l, r);
    let score = 0;
    for (let j = 0; j < d; j++) score += (z[j] - r[j]) ** 2;
    let kl = 0;
    for (let k = 0; k < mu.length; k++) kl += -0.5 * (1 + lv[k] - mu[k] ** 2 - Math.exp(lv[k]));
    score += net.beta * kl;
    const got = fitted.scoreSync(x)[0];
    assert.ok(Math.abs(got - score) <= 1e-4 * (1 + score), `${got} vs ${score}`);
  });

  it('mean scoring is deterministic; Monte-Carlo scoring is seeded and independent of batch position', async () => {
    const X = cardio.X.sliceRows(0, 300);
    assert.deepStrictEqual(await fitted.score(X), await fitted.score(X));
    assert.ok(maxRelDiff(await fitted.score(X), fitted.scoreSync(X)) <= 1e-4);
    const opts = { seed: 5, threads: 1, epochs: 5, score: 'mc', samples: 4 };
    const a = new nadir.VariationalAutoEncoder(opts);
    const b = new nadir.VariationalAutoEncoder(opts);
    await a.fit(X);
    await b.fit(X);
    const sa = await a.score(X);
    assert.deepStrictEqual(sa, await b.score(X));
    assert.deepStrictEqual(a.scoreSync(X.row(42)), sa.subarray(42, 43));
    const c = new nadir.VariationalAutoEncoder({ ...opts, seed: 6 });
    await c.fit(X);
    assert.notDeepStrictEqual(await c.score(X), sa);
  });

  it('scores agree across SIMD levels', async () => {
    const X = cardio.X.sliceRows(0, 200);
    const runs = await atEachLevel(() => fitted.score(X));
    for (const r of runs) assert.ok(maxAbsDiff(r.result, runs[0].result) < 1e-3 * (1 + Math.max(...runs[0].result)), r.level);
  });

  it('explain gives per-feature reconstruction errors, largest on the perturbed feature', async () => {
    const row = Float32Array.from(cardio.X.row(3));
    row[9] += 15 * fitted.network.std[9];
    const ex = await fitted.explain(row);
    assert.strictEqual(ex.cols, 21);
    assert.strictEqual(ex.data.indexOf(Math.max(...ex.data)), 9);
  });

  it('save -> load round trip gives exactly the same scores (mean and mc)', async () => {
    const file = tmpFile('vae.nadir');
    fitted.save(file);
    const a = nadir.VariationalAutoEncoder.load(file);
    const s = await fitted.score(cardio.X);
    assert.deepStrictEqual(await a.score(cardio.X), s);
    assert.deepStrictEqual(nadir.loadDetector(file).scoreSync(cardio.X), fitted.scoreSync(cardio.X));
    assert.strictEqual(a.threshold, fitted.threshold);
    assert.deepStrictEqual(a.network.logVar.weight, fitted.network.logVar.weight);
    const mc = new nadir.VariationalAutoEncoder({ seed: 3, epochs: 3, score: 'mc', samples: 3, beta: 0.5, normalization: 'layer', threads: 1 });
    await mc.fit(syn.X);
    const back = nadir.detectorFromBytes(mc.toBytes());
    assert.deepStrictEqual(await back.score(syn.X), await mc.score(syn.X));
    assert.strictEqual(back.network.beta, 0.5);
    assert.throws(() => nadir.AutoEncoder.load(file), /not a AutoEncoder/);
  });

  it('rejects bad options and input', async () => {
    assert.throws(() => new nadir.VariationalAutoEncoder({ latent: 2 }), /Unknown option 'latent'/);
    assert.throws(() => new nadir.VariationalAutoEncoder({ latentSize: 0 }), /'latentSize'/);
    assert.throws(() => new nadir.VariationalAutoEncoder({ beta: -1 }), /'beta'/);
    assert.throws(() => new nadir.VariationalAutoEncoder({ score: 'elbo' }), /'score'/);
    assert.throws(() => new nadir.VariationalAutoEncoder({ samples: 0 }), /'samples'/);
    assert.throws(() => new nadir.VariationalAutoEncoder({ encoderLayers: 'big' }), /'encoderLayers'/);
    const fresh = new nadir.VariationalAutoEncoder();
    assert.throws(() => fresh.scoreSync([1]), nadir.NotFittedError);
    await assert.rejects(fresh.fit([[1, NaN], [1, 2]]), /NaN/);
    await assert.rejects(fitted.score([[1, 2]]), /2 columns but this VariationalAutoEncoder was fitted on 21/);
  });
});
