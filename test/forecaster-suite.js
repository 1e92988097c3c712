'use strict';
// The contract tests both sequence forecasters share (lstm.test.js, transformer.test.js).
const assert = require('assert');
const fs = require('fs');
const nadir = require('..');
const { tmpFile, maxAbsDiff } = require('./helpers');
const { injectedSeries, overlaps } = require('./series-helpers');

function forecasterSuite(Cls, base) {
  const { X, train, events: injected } = injectedSeries();
  let det;
  let scores;
  let raw; // scores of the same model without smoothing

  before(async () => {
    det = await new Cls({ ...base, seed: 7, threads: 1 }).fit(train);
    scores = await det.score(X);
    raw = await new Cls({ ...base, seed: 7, threads: 1, smoothing: 0 }).fit(train).then((d) => d.score(X));
  });

  it('scores every step; warm-up steps score 0, the rest are finite and >= 0', () => {
    assert.strictEqual(scores.length, X.rows);
    for (let t = 0; t < det.window; t++) assert.strictEqual(scores[t], 0);
    for (let t = det.window; t < X.rows; t++) assert.ok(Number.isFinite(scores[t]) && scores[t] >= 0, `score[${t}] = ${scores[t]}`);
    assert.strictEqual(det.nFeatures, 2);
    assert.ok(det.history.length === base.epochs && det.history[base.epochs - 1] < det.history[0], 'training loss falls');
  });

  it('threshold from the post-warm-up training scores: predict flags the spike, normalize maps into [0, 1]', async () => {
    assert.strictEqual(det.thresholdInfo.method, 'contamination');
    assert.ok(det.threshold > 0);
    const flags = await det.predict(X);
    assert.strictEqual(flags[1000], 1);
    const norm = det.normalize(scores);
    assert.ok(norm.every((v) => v >= 0 && v <= 1) && norm[1000] === 1);
  });

  it('finds the injected spike, level shift and pattern change (event overlap), with few false events', () => {
    const ev = det.eventsFromScores(scores);
    for (const w of injected) assert.ok(ev.some((e) => overlaps(e, w, 2)), `${w.name} at [${w.start}, ${w.end}] not found in ${JSON.stringify(ev.map((e) => [e.start, e.end]))}`);
    const falseEvents = ev.filter((e) => !injected.some((w) => overlaps(e, w, 2)));
    assert.ok(falseEvents.length <= 2, `false events: ${JSON.stringify(falseEvents)}`);
    for (const e of ev) {
      assert.ok(e.start <= e.peak && e.peak <= e.end && e.severity >= 0);
      assert.strictEqual(e.score, scores[e.peak]);
    }
  });

  it('events(): dynamic, model (hybrid threshold) and fixed thresholds; timestamps copied', async () => {
    const ts = Array.from({ length: X.rows }, (_, i) => 1e12 + i * 60000);
    const ev = await det.events(X, { timestamps: ts });
    assert.ok(ev.length >= 3);
    assert.strictEqual(ev[0].startTime, ts[ev[0].start]);
    const high = await det.events(X, { threshold: 1e30 });
    assert.deepStrictEqual(high, []);
    const spot = await new Cls({ ...base, seed: 7, threads: 1, threshold: { method: 'spot', risk: 1e-3 } }).fit(train);
    assert.strictEqual(spot.thresholdInfo.method, 'spot');
    const evm = await spot.events(X, { threshold: 'model', minGap: 5 });
    assert.ok(injected.filter((w) => evm.some((e) => overlaps(e, w, 2))).length >= 2, JSON.stringify(evm.map((e) => [e.start, e.end])));
  });

  it('explain: per-channel terms sum to the score; the spike is in channel 0, the level shift in channel 1', async () => {
    const ex = await det.explain(X);
    assert.deepStrictEqual([ex.rows, ex.cols], [X.rows, 2]);
    for (const t of [det.window + 5, 1000, 1210]) assert.ok(Math.abs(ex.data[2 * t] + ex.data[2 * t + 1] - raw[t]) <= 1e-4 * Math.max(1, raw[t]));
    assert.ok(ex.data[2 * 1000] > ex.data[2 * 1000 + 1]);
    assert.ok(ex.data[2 * 1200 + 1] > ex.data[2 * 1200]);
  });

  it('forecast() returns one-step forecasts in input units (warm-up rows NaN)', async () => {
    const f = await det.forecast(X);
    assert.ok(Number.isNaN(f.data[0]));
    let err = 0;
    for (let t = 100; t < 800; t++) err += (f.data[2 * t] - X.data[2 * t]) ** 2;
    assert.ok(err / 700 < 0.05, `mse ${err / 700}`);
  });

  it('seeded: same seed => bit-identical model and scores, whatever the thread count; different seed => different', async () => {
    const a = await new Cls({ ...base, seed: 7, threads: 1 }).fit(train);
    assert.deepStrictEqual(await a.score(X), scores);
    const t2 = await new Cls({ ...base, seed: 7, threads: 2 }).fit(train);
    assert.deepStrictEqual(t2.parameters, a.parameters);
    assert.deepStrictEqual(await t2.score(X), scores);
    const b = await new Cls({ ...base, seed: 8, threads: 1 }).fit(train);
    assert.ok(maxAbsDiff(b.parameters, a.parameters) > 0);
  });

  it('streaming push() scores equal batch scores exactly; state() resumes exactly', () => {
    const s = det.stream();
    const half = 900;
    for (let t = 0; t < half; t++) assert.strictEqual(s.push([X.data[2 * t], X.data[2 * t + 1]]), scores[t], `step ${t}`);
    const saved = s.state();
    const json = JSON.parse(JSON.stringify({ ...saved, values: Array.from(saved.values) }));
    const resumed = det.stream({ ...json, values: Float32Array.from(json.values) });
    for (let t = half; t < X.rows; t++) {
      const v = [X.data[2 * t], X.data[2 * t + 1]];
      assert.strictEqual(resumed.push(v), scores[t], `resumed step ${t}`);
      assert.strictEqual(s.push(v), scores[t]);
    }
    assert.strictEqual(resumed.steps, X.rows);
  });

  it('scores are the EWMA (default smoothing 0.7) of the raw errors; streaming without smoothing equals batch', async () => {
    assert.deepStrictEqual(scores, nadir.ewma(raw, 0.7, det.window));
    const sm = await new Cls({ ...base, seed: 7, threads: 1, smoothing: 0 }).fit(train);
    const s = sm.stream();
    for (let t = 0; t < X.rows; t++) assert.strictEqual(s.push([X.data[2 * t], X.data[2 * t + 1]]), raw[t]);
  });

  it('save -> load round trip scores exactly; scoreSync equals score', async () => {
    const f = tmpFile(`${Cls.name}.nadir`);
    det.save(f);
    const back = Cls.load(f);
    assert.deepStrictEqual(await back.score(X), scores);
    assert.deepStrictEqual(nadir.loadDetector(f).scoreSync(X), scores);
    assert.deepStrictEqual(back.stream().push([X.data[0], X.data[1]]), 0);
    fs.unlinkSync(f);
  });

  it('toOnnx(): ONNX Runtime matches the native forward pass; executionProvider cpu scores match', async function () {
    const ort = require('onnxruntime-node');
    const session = await ort.InferenceSession.create(det.toOnnx());
    const W = det.window;
    const f = await det.forecast(X);
    let feeds;
    if (det.type === 'LstmForecaster') feeds = { input: new ort.Tensor('float32', X.data, [X.rows, 2]) };
    else {
      const n = X.rows - W;
      const w = new Float32Array(n * W * 2);
      for (let i = 0; i < n; i++) w.set(X.data.subarray(i * 2, (i + W) * 2), i * W * 2);
      feeds = { input: new ort.Tensor('float32', w, [n, W * 2]) };
    }
    const out = await session.run(feeds);
    const fo = out.forecast.data;
    const O = det.horizon * 2;
    let d = 0;
    for (let t = W; t < X.rows; t++)
      for (let c = 0; c < 2; c++) d = Math.max(d, Math.abs((det.type === 'LstmForecaster' ? fo[t * 2 + c] : fo[(t - W) * O + c]) - f.data[t * 2 + c]));
    assert.ok(d < 1e-4, `forecast max diff ${d}`);
    if (out.error) {
      let de = 0;
      for (let t = W; t < X.rows; t++) de = Math.max(de, Math.abs(out.error.data[t] - raw[t]) / Math.max(1, raw[t]));
      assert.ok(de < 1e-3, `error max rel diff ${de}`);
    }
    const viaOrt = new Cls({ ...base, seed: 7, threads: 1, engine: 'onnx', executionProvider: 'cpu' });
    const back = nadir.detectorFromBytes(det.toBytes());
    assert.strictEqual(back.type, det.type);
    await viaOrt.fit(train);
    const s2 = await viaOrt.score(X);
    assert.ok(maxAbsDiff(s2, scores) <= 1e-3 * Math.max(...scores), `ORT scores differ by ${maxAbsDiff(s2, scores)}`);
    assert.deepStrictEqual([viaOrt.engine, viaOrt.executionProvider, det.engine], ['onnx', 'cpu', 'native']);
    await viaOrt.close();
  });

  it('bad input: too short, NaN, wrong channel count, unfitted, options', async () => {
    const tiny = new nadir.Matrix(train.data.slice(0, 2 * (base.window ?? 32)), base.window ?? 32, 2);
    await assert.rejects(new Cls({ ...base, seed: 1 }).fit(tiny), /needs at least/);
    await assert.rejects(det.score(tiny), /needs more than its window/);
    const bad = Float32Array.from(X.data);
    bad[2 * 500 + 1] = NaN;
    await assert.rejects(det.score(new nadir.Matrix(bad, X.rows, 2)), /NaN/);
    await assert.rejects(det.score(new nadir.Matrix(X.data.slice(0, 300 * 3), 300, 3)), /3 columns but/);
    await assert.rejects(new Cls(base).score(X), /not fitted/);
    assert.throws(() => new Cls({ windw: 3 }), /Did you mean 'window'/);
    assert.throws(() => new Cls({ window: 0 }), /option 'window'/);
    assert.throws(() => new Cls({ smoothing: 1 }), /option 'smoothing'/);
    assert.throws(() => new Cls({ executionProvider: 'gpu' }), /executionProvider/);
    assert.throws(() => new Cls({ engine: 'torch' }), /engine/);
    const s = det.stream();
    assert.throws(() => s.push(1), /2 channels/);
    assert.throws(() => s.push([1, NaN]), /non-finite/);
    assert.throws(() => det.stream({ type: 'Other', steps: 0, ewma: 0, values: new Float32Array(1) }), /does not belong/);
    const ts = Array.from({ length: X.rows }, (_, i) => i * 10 + (i >= 700 ? 50 : 0));
    await assert.rejects(det.score(X, { timestamps: ts }), /gap before row 700/);
    await assert.rejects(det.events(X, { thresh: 1 }), /Unknown event option/);
  });

  it('fit rejects with an AbortError when the signal is aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(new Cls({ ...base, seed: 1, signal: ac.signal }).fit(train), (e) => e.name === 'AbortError' || /abort/i.test(e.message));
  });
}

module.exports = { forecasterSuite };
