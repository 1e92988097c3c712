'use strict';
const assert = require('assert');
const { native } = require('../dist/binding');
const nadir = require('..');
const { rng, atEachLevel } = require('./helpers');
const { injectedSeries } = require('./series-helpers');
const { forecasterSuite } = require('./forecaster-suite');

// Offsets as in native/include/nadir/seq.h (TfShape).
function layout(C, d, L, horizon, ff) {
  let off = 0;
  const take = (n) => { const o = off; off += n; return [o, o + n]; };
  const r = { win: take(d * C), bin: take(d), layers: [] };
  for (let l = 0; l < L; l++)
    r.layers.push({ ln1: [take(d), take(d)], attn: [take(d * d), take(d * d), take(d * d), take(d * d), take(d), take(d), take(d), take(d)], ln2: [take(d), take(d)], ffn: [take(d * ff), take(ff), take(d * ff), take(d)] });
  r.lnf = [take(d), take(d)];
  r.head = [take(d * horizon * C), take(horizon * C)];
  r.size = off;
  return r;
}
const inRanges = (ranges) => (i) => ranges.some(([a, b]) => i >= a && i < b);

describe('TransformerForecaster', function () {
  describe('gradients (native, double precision)', () => {
    const C = 2, d = 8, heads = 2, L = 2, horizon = 2, W = 6, ff = 12;
    const meta = Int32Array.from([1, C, d, heads, L, horizon, W, ff]);
    const lay = layout(C, d, L, horizon, ff);
    const rand = rng(1);
    const len = 30;
    const Z = Float64Array.from({ length: len * C }, () => rand() * 2 - 1);
    const starts = Uint32Array.from([0, 7, 22]);
    const lg = (P) => native.seqTfLossGrad(meta, P, Z, len, starts);
    const P0 = () => {
      const r = rng(3);
      const P = Float64Array.from({ length: lay.size }, () => (r() * 2 - 1) * 0.5);
      return P;
    };
    function check(pick) {
      const P = P0();
      const { grad } = lg(P);
      const scale = Math.max(...grad.map(Math.abs));
      let worst = 0;
      for (let i = 0; i < lay.size; i++) {
        if (!pick(i)) continue;
        const h = 1e-6;
        const a = P.slice(); a[i] += h;
        const b = P.slice(); b[i] -= h;
        worst = Math.max(worst, Math.abs((lg(a).loss - lg(b).loss) / (2 * h) - grad[i]) / scale);
      }
      return worst;
    }

    it('the blob size matches the native layout', () => {
      assert.throws(() => lg(new Float64Array(lay.size + 1)), new RegExp(`Expected ${lay.size} elements`));
    });
    it('causal multi-head attention (Wq, Wk, Wv, Wo and biases) matches finite differences', () => {
      assert.ok(check(inRanges(lay.layers.flatMap((l) => l.attn))) < 1e-7);
    });
    it('layer norms (gamma, beta of both blocks and the final norm) match finite differences', () => {
      assert.ok(check(inRanges([...lay.layers.flatMap((l) => [...l.ln1, ...l.ln2]), ...lay.lnf])) < 1e-7);
    });
    it('float gradient (forward and backward through the GEMM) agrees with the double one', () => {
      const P = P0();
      const g64 = lg(P).grad;
      const g32 = native.seqTfLossGrad(meta, Float32Array.from(P), Float32Array.from(Z), len, starts).grad;
      const scale = Math.max(...g64.map(Math.abs));
      for (let i = 0; i < lay.size; i++) assert.ok(Math.abs(g32[i] - g64[i]) < 1e-4 * scale, `param ${i}: ${g32[i]} vs ${g64[i]}`);
    });
    it('input projection, feed-forward and head match finite differences', () => {
      assert.ok(check(inRanges([lay.win, lay.bin, ...lay.layers.flatMap((l) => l.ffn), ...lay.head])) < 1e-7);
    });
  });

  forecasterSuite(nadir.TransformerForecaster, { epochs: 12, window: 24 });

  it('inference (GEMM) at every SIMD level matches the scalar reference; streaming equals batch at each level', async () => {
    const { X, train } = injectedSeries({ T: 400 });
    const det = await new nadir.TransformerForecaster({ epochs: 1, modelWidth: 8, layers: 2, window: 16, seed: 2, threads: 1, smoothing: 0 }).fit(train);
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

  it('options: modelWidth, heads, layers, feedForward; defaults; heads must divide the width', () => {
    const d = new nadir.TransformerForecaster();
    assert.deepStrictEqual([d.modelWidth, d.heads, d.layers, d.feedForward, d.window], [16, 2, 1, 32, 32]);
    assert.throws(() => new nadir.TransformerForecaster({ modelWidth: 10, heads: 3 }), /must divide/);
  });
});
