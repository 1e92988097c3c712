'use strict';
const assert = require('assert');
const { native } = require('../dist/binding');
const nadir = require('..');
const { rng, atEachLevel } = require('./helpers');
const { injectedSeries } = require('./series-helpers');
const { forecasterSuite } = require('./forecaster-suite');

// Central differences in double precision against the analytic BPTT gradient.
function gradCheck(meta, size, lossGrad, pick = (i) => true) {
  const rand = rng(3);
  const P = Float64Array.from({ length: size }, () => (rand() * 2 - 1) * 0.5);
  const { grad } = lossGrad(P);
  let worst = 0;
  const scale = Math.max(...grad.map(Math.abs));
  for (let i = 0; i < size; i++) {
    if (!pick(i)) continue;
    const h = 1e-6;
    const a = P.slice(); a[i] += h;
    const b = P.slice(); b[i] -= h;
    const num = (lossGrad(a).loss - lossGrad(b).loss) / (2 * h);
    worst = Math.max(worst, Math.abs(num - grad[i]) / scale);
  }
  return worst;
}

describe('LstmForecaster', function () {
  describe('LSTM cell gradients (native, double precision)', () => {
    const C = 2, H = 5, L = 2, horizon = 3;
    const meta = Int32Array.from([1, C, H, L, horizon]);
    const G = 4 * H;
    const size = G * C + G * H + G + (G * H + G * H + G) + horizon * C * H + horizon * C;
    const rand = rng(1);
    const len = 30;
    const Z = Float64Array.from({ length: len * C }, () => rand() * 2 - 1);
    const starts = Uint32Array.from([0, 5, 19]);
    const lg = (P) => native.seqLstmLossGrad(meta, P, Z, len, 8, starts);

    it('BPTT through 2 stacked layers matches finite differences', () => {
      assert.ok(gradCheck(meta, size, lg) < 1e-7);
    });

    it('float gradient agrees with the double one', () => {
      const rand2 = rng(3);
      const P = Float64Array.from({ length: size }, () => (rand2() * 2 - 1) * 0.5);
      const g64 = lg(P).grad;
      const g32 = native.seqLstmLossGrad(meta, Float32Array.from(P), Float32Array.from(Z), len, 8, starts).grad;
      const scale = Math.max(...g64.map(Math.abs));
      for (let i = 0; i < size; i++) assert.ok(Math.abs(g32[i] - g64[i]) < 1e-4 * scale);
    });

    it('rejects windows past the end and bad shapes', () => {
      assert.throws(() => native.seqLstmLossGrad(meta, new Float64Array(size), Z, len, 8, Uint32Array.from([25])), /past the end/);
      assert.throws(() => native.seqLstmLossGrad(Int32Array.from([1, 0, 5, 1, 1]), new Float64Array(size), Z, len, 8, starts), /channels/);
      assert.throws(() => native.seqLstmLossGrad(meta, new Float64Array(3), Z, len, 8, starts), /Expected \d+ elements in params/);
    });
  });

  forecasterSuite(nadir.LstmForecaster, { epochs: 6, hiddenSize: 16, window: 24 });

  it('inference (GEMM) at every SIMD level matches the scalar reference; streaming equals batch at each level', async () => {
    const { X, train } = injectedSeries({ T: 400 });
    const det = await new nadir.LstmForecaster({ epochs: 1, hiddenSize: 12, layers: 2, window: 16, seed: 2, threads: 1, smoothing: 0 }).fit(train);
    const runs = await atEachLevel(async () => {
      const batch = await det.score(X);
      const s = det.stream();
      const stream = Float32Array.from({ length: X.rows }, (_, t) => s.push([X.data[2 * t], X.data[2 * t + 1]]));
      return { batch, stream };
    });
    const ref = runs[0].result.batch;
    for (const { level, result } of runs) {
      assert.deepStrictEqual(result.stream, result.batch, `streaming differs from batch at ${level}`);
      for (let t = 0; t < ref.length; t++) assert.ok(Math.abs(result.batch[t] - ref[t]) <= 1e-4 * Math.max(1, ref[t]), `${level} step ${t}`);
    }
  });

  it('options: hiddenSize, layers; defaults', () => {
    const d = new nadir.LstmForecaster();
    assert.deepStrictEqual([d.hiddenSize, d.layers, d.window, d.horizon], [32, 1, 32, 1]);
    assert.throws(() => new nadir.LstmForecaster({ hiddenSize: 0 }), /hiddenSize/);
  });
});
