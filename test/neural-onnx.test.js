'use strict';
// AutoEncoder and VariationalAutoEncoder through ONNX Runtime: batch score runs the exported model
// (toOnnx) in onnxruntime-node, scoreSync the native forward pass; both must agree.
const assert = require('assert');
const path = require('path');
const { execFileSync } = require('child_process');
const ort = require('onnxruntime-node');
const nadir = require('..');
const { shipped, synthetic, maxRelDiff, tmpFile } = require('./helpers');

const quiet = () => {};
const cardio = shipped('cardio');

describe('neural detectors on ONNX Runtime', function () {
  // Trained once per kind and normalization; small epochs keep the file fast.
  const fitted = {};
  before(async function () {
    for (const Det of [nadir.AutoEncoder, nadir.VariationalAutoEncoder]) {
      for (const normalization of ['none', 'layer']) {
        const det = new Det({ seed: 1, epochs: 3, threads: 1, normalization, activation: normalization === 'layer' ? 'tanh' : 'relu', executionProvider: 'cpu' });
        await det.fit(cardio.X);
        fitted[`${Det.name}/${normalization}`] = det;
      }
    }
  });
  after(async function () {
    await Promise.all(Object.values(fitted).map((d) => d.close()));
  });

  for (const name of ['AutoEncoder', 'VariationalAutoEncoder']) {
    for (const normalization of ['none', 'layer']) {
      it(`${name} (normalization '${normalization}'): ONNX Runtime batch scores match native scoreSync (max rel diff <= 1e-4)`, async function () {
        const det = fitted[`${name}/${normalization}`];
        assert.strictEqual(det.engine, 'onnx');
        assert.strictEqual(det.executionProvider, 'cpu');
        const ortScores = await det.score(cardio.X);
        const native = det.scoreSync(cardio.X);
        const diff = maxRelDiff(ortScores, native);
        assert.ok(diff <= 1e-4, `max rel diff ${diff}`);
        // The native engine gives exactly the native pass.
        const natEngine = withOptions(det, { engine: 'native' });
        assert.ok(natEngine instanceof nadir[name]);
        assert.strictEqual(natEngine.engine, 'native');
        assert.deepStrictEqual(await natEngine.score(cardio.X), native);
      });
    }
  }

  it('toOnnx() loads in onnxruntime-node and gives the detector\'s scores and reconstructions', async function () {
    for (const key of ['AutoEncoder/none', 'VariationalAutoEncoder/layer']) {
      const det = fitted[key];
      const bytes = det.toOnnx();
      assert.ok(bytes instanceof Uint8Array);
      const session = await ort.InferenceSession.create(bytes);
      assert.deepStrictEqual(session.inputNames, ['input']);
      assert.deepStrictEqual([...session.outputNames].sort(), ['reconstruction', 'score']);
      const X = cardio.X.sliceRows(0, 300);
      const r = await session.run({ input: new ort.Tensor('float32', X.data, [X.rows, X.cols]) });
      assert.deepStrictEqual(Array.from(r.score.dims), [300]);
      assert.ok(maxRelDiff(r.score.data, await det.score(X)) <= 1e-5, key);
      assert.ok(maxRelDiff(r.score.data, det.scoreSync(X)) <= 1e-4, key);
      const rec = await det.reconstruct(X);
      assert.ok(maxRelDiff(r.reconstruction.data, rec.data) <= 1e-4, key);
      await session.release();
      // Export options pass through; the scoring-only model (what batch score runs) gives the same scores.
      const info = nadir.readOnnxInfo(det.toOnnx({ opset: 17, graphName: 'g' }));
      assert.strictEqual(info.opsets[''], 17);
      const lean = det.toOnnx({ reconstruction: false });
      assert.deepStrictEqual(nadir.readOnnxInfo(lean).outputs.map((o) => o.name), ['score']);
      const ls = await ort.InferenceSession.create(lean);
      const lr = await ls.run({ input: new ort.Tensor('float32', X.data, [X.rows, X.cols]) });
      assert.ok(maxRelDiff(lr.score.data, r.score.data) <= 1e-6, key);
      await ls.release();
    }
    assert.throws(() => new nadir.AutoEncoder().toOnnx(), nadir.NotFittedError);
    assert.throws(() => fitted['AutoEncoder/none'].toOnnx({ opset: 12 }), /opset/);
    assert.throws(() => fitted['AutoEncoder/none'].toOnnx({ reconstruction: 'no' }), /true or false for networkToOnnx option 'reconstruction'/);
  });

  it("VAE score 'mc' runs natively (ONNX cannot draw the latent samples)", async function () {
    const mc = new nadir.VariationalAutoEncoder({ seed: 2, epochs: 2, threads: 1, score: 'mc', samples: 3 });
    await mc.fit(cardio.X.sliceRows(0, 400));
    assert.strictEqual(mc.engine, 'native');
    const X = cardio.X.sliceRows(0, 50);
    assert.deepStrictEqual(await mc.score(X), mc.scoreSync(X));
    await assert.rejects(mc.score([[...X.row(0).slice(0, 20), NaN]]), /NaN at row 0, column 20/);
  });

  it('save -> load keeps engine and provider options; the session is rebuilt and scores are identical', async function () {
    const det = fitted['AutoEncoder/none'];
    const s = await det.score(cardio.X);
    const file = tmpFile('ae-onnx.nadir');
    det.save(file);
    const back = nadir.AutoEncoder.load(file);
    assert.strictEqual(back.config.executionProvider, 'cpu');
    assert.strictEqual(back.engine, 'onnx');
    assert.deepStrictEqual(await back.score(cardio.X), s);
    await back.close();
    // Closed sessions start again when needed.
    assert.deepStrictEqual(await back.score(cardio.X), s);
    await back.close();
    // A refit replaces the exported model and its session.
    const re = new nadir.AutoEncoder({ seed: 3, epochs: 2, threads: 1, executionProvider: 'cpu' });
    await re.fit(cardio.X);
    const first = await re.score(cardio.X);
    await re.fit(synthetic({ rows: 300, cols: 21, seed: 4 }).X);
    const second = await re.score(cardio.X);
    assert.notDeepStrictEqual(second, first);
    assert.ok(maxRelDiff(second, re.scoreSync(cardio.X)) <= 1e-4);
    await re.close();
  });

  it('large batches in worker threads give the same scores as inline runs', async function () {
    const X = synthetic({ rows: 6000, cols: 21, seed: 7 }).X;
    const base = fitted['VariationalAutoEncoder/none'];
    const inline = nadir.VariationalAutoEncoder.fromBytes(base.toBytes());
    const pooled = withOptions(base, { workers: 2, workerThreshold: 2000, inferenceBatchSize: 1024 });
    const a = await inline.score(X);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const b = await pooled.score(X); // 6 chunks over 2 workers
    clearInterval(timer);
    assert.ok(maxRelDiff(b, a) <= 1e-5);
    assert.ok(maxRelDiff(b, base.scoreSync(X)) <= 1e-4);
    assert.ok(ticks > 0, 'the event loop did not run while workers scored');
    // A second batch reuses the input buffers handed back by the workers (and ends in a partial chunk).
    const X2 = synthetic({ rows: 5500, cols: 21, seed: 8 }).X;
    assert.ok(maxRelDiff(await pooled.score(X2), await inline.score(X2)) <= 1e-5);
    assert.ok(maxRelDiff(await pooled.score(X), a) <= 1e-5);
    await Promise.all([inline.close(), pooled.close()]);
  });

  it('idle worker threads do not keep the process alive (no close() needed)', function () {
    const script = `
      const nadir = require(${JSON.stringify(path.join(__dirname, '..'))});
      const rows = Array.from({ length: 300 }, (_, i) => [i % 7, (i * 3) % 11, Math.sin(i)]);
      const ae = new nadir.AutoEncoder({ seed: 1, epochs: 1, threads: 1, executionProvider: 'cpu', workers: 1, workerThreshold: 100 });
      ae.fit(rows).then(() => ae.score(rows)).then((s) => console.log('scored', s.length));`;
    const out = execFileSync(process.execPath, ['-e', script], { timeout: 20000 }).toString();
    assert.match(out, /scored 300/);
  });

  it("executionProvider 'cuda' without CUDA throws the documented error before training; 'auto' falls back to the CPU with one line", async function () {
    if (nadir.cudaProviderInstalled()) this.skip();
    let epochs = 0;
    const cuda = new nadir.AutoEncoder({ seed: 1, epochs: 2, threads: 1, executionProvider: 'cuda', onEpoch: () => epochs++ });
    await assert.rejects(cuda.fit(cardio.X), (e) => e instanceof nadir.ExecutionProviderError && /CUDA provider is not installed/.test(e.message) && /--onnxruntime-node-install=cuda12/.test(e.message));
    assert.strictEqual(epochs, 0);
    // Loaded with 'cuda' (a model file from a GPU machine): batch score names the problem.
    const file = tmpFile('cuda.nadir');
    withOptions(fitted['AutoEncoder/none'], { executionProvider: 'cuda' }).save(file);
    const loaded = nadir.loadDetector(file);
    await assert.rejects(loaded.score(cardio.X), nadir.ExecutionProviderError);
    assert.strictEqual(loaded.scoreSync(cardio.X.row(0)).length, 1); // the native path needs no provider
    // Native engine never asks ONNX Runtime.
    const nat = new nadir.AutoEncoder({ seed: 1, epochs: 1, threads: 1, executionProvider: 'cuda', engine: 'native' });
    await nat.fit(cardio.X.sliceRows(0, 200));
    assert.strictEqual((await nat.score(cardio.X.sliceRows(0, 10))).length, 10);

    const lines = [];
    const auto = new nadir.VariationalAutoEncoder({ seed: 1, epochs: 1, threads: 1, logger: (l) => lines.push(l) });
    await auto.fit(cardio.X.sliceRows(0, 200));
    await auto.score(cardio.X.sliceRows(0, 20));
    await auto.score(cardio.X.sliceRows(0, 20));
    assert.strictEqual(auto.executionProvider, 'cpu');
    assert.strictEqual(lines.length, 1);
    assert.match(lines[0], /^nadir: ONNX Runtime runs on the CPU \(executionProvider 'auto'/);
    assert.ok(!('logger' in auto.config));
    await auto.close();
  });

  it('bad inputs through the ONNX path: wrong width, NaN, empty; bad option values', async function () {
    const det = fitted['AutoEncoder/none'];
    await assert.rejects(det.score([[1, 2, 3]]), (e) => e instanceof nadir.DataError && /3 columns but this AutoEncoder was fitted on 21/.test(e.message));
    const bad = Float32Array.from(cardio.X.sliceRows(0, 5).data);
    bad[2 * 21 + 3] = NaN;
    await assert.rejects(det.score({ data: bad, rows: 5, cols: 21 }), (e) => e instanceof nadir.DataError && /NaN at row 2, column 3/.test(e.message));
    bad[2 * 21 + 3] = 1;
    bad[4 * 21 + 20] = -Infinity;
    await assert.rejects(det.score({ data: bad, rows: 5, cols: 21 }), (e) => e instanceof nadir.DataError && /-Infinity at row 4, column 20/.test(e.message));
    const vae = fitted['VariationalAutoEncoder/layer'];
    await assert.rejects(vae.score({ data: bad, rows: 5, cols: 21 }), /-Infinity at row 4, column 20/);
    await assert.rejects(withOptions(vae, { engine: 'native' }).score({ data: bad, rows: 5, cols: 21 }), /-Infinity at row 4, column 20/);
    assert.strictEqual((await det.score({ data: new Float32Array(0), rows: 0, cols: 21 })).length, 0);
    await assert.rejects(new nadir.VariationalAutoEncoder().score([[1]]), nadir.NotFittedError);
    assert.throws(() => new nadir.AutoEncoder().executionProvider, nadir.NotFittedError);
    assert.throws(() => new nadir.AutoEncoder({ engine: 'gpu' }), /Expected one of 'onnx', 'native' for AutoEncoder option 'engine'/);
    assert.throws(() => new nadir.VariationalAutoEncoder({ executionProvider: 'gpu' }), /'auto', 'cpu', 'cuda' for VariationalAutoEncoder option 'executionProvider'/);
    assert.throws(() => new nadir.AutoEncoder({ inferenceBatchSize: 0 }), /'inferenceBatchSize'/);
    assert.throws(() => new nadir.AutoEncoder({ workers: -1 }), /'workers'/);
    assert.throws(() => new nadir.AutoEncoder({ workerThreshold: 0.5 }), /'workerThreshold'/);
    assert.throws(() => new nadir.AutoEncoder({ logger: 'stderr' }), /function for AutoEncoder option 'logger'/);
    assert.throws(() => new nadir.AutoEncoder({ excutionProvider: 'cpu' }), /Did you mean 'executionProvider'/);
  });
});

/** A copy of a fitted detector with some options changed (through its model file). */
function withOptions(det, options) {
  const { decodeModel, encodeModel } = require('../dist/io/model-file');
  const content = decodeModel(det.toBytes(), 'bytes');
  content.meta.options = { ...content.meta.options, ...options };
  return nadir.detectorFromBytes(encodeModel(content));
}
