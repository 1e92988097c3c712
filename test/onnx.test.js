'use strict';
const assert = require('assert');
const fs = require('fs');
const ort = require('onnxruntime-node');
const nadir = require('..');
const { ProtoWriter } = require('../dist/neural/protobuf');
const { rng, gaussian, synthetic, maxAbsDiff, tmpFile } = require('./helpers');

const { OnnxDetector, OnnxSession, networkToOnnx, readOnnxInfo, resolveExecutionProvider, cudaProviderInstalled } = nadir;

// ------------------------------------------------------------------ a random Network and a plain JS forward pass

function randomLayer(rand, inputs, outputs, activation, norm) {
  const s = 1 / Math.sqrt(inputs);
  const layer = {
    inputs,
    outputs,
    weight: Float32Array.from({ length: inputs * outputs }, () => gaussian(rand) * s),
    bias: Float32Array.from({ length: outputs }, () => gaussian(rand) * 0.1),
    activation,
  };
  if (norm) layer.norm = { gamma: Float32Array.from({ length: outputs }, () => 1 + 0.3 * gaussian(rand)), beta: Float32Array.from({ length: outputs }, () => 0.2 * gaussian(rand)), epsilon: 1e-5 };
  return layer;
}

function stats(rand, d) {
  return {
    mean: Float32Array.from({ length: d }, () => gaussian(rand)),
    std: Float32Array.from({ length: d }, () => 0.5 + rand() * 2),
  };
}

function autoencoder(seed, d, hidden, activations, norm = false) {
  const rand = rng(seed);
  const sizes = [d, ...hidden, d];
  const layers = [];
  for (let k = 0; k + 1 < sizes.length; k++) layers.push(randomLayer(rand, sizes[k], sizes[k + 1], k + 2 < sizes.length ? activations[k % activations.length] : 'identity', norm && k + 2 < sizes.length));
  return { kind: 'autoencoder', ...stats(rand, d), layers };
}

function vae(seed, d, beta = 0.7) {
  const rand = rng(seed);
  return {
    kind: 'vae',
    ...stats(rand, d),
    encoder: [randomLayer(rand, d, 12, 'relu', true)],
    mu: randomLayer(rand, 12, 3, 'identity'),
    logVar: randomLayer(rand, 12, 3, 'identity'),
    decoder: [randomLayer(rand, 3, 12, 'tanh'), randomLayer(rand, 12, d, 'identity')],
    beta,
  };
}

const act = { relu: (v) => Math.max(0, v), tanh: Math.tanh, sigmoid: (v) => 1 / (1 + Math.exp(-v)), identity: (v) => v };

function denseRef(l, x) {
  const y = new Array(l.outputs);
  for (let o = 0; o < l.outputs; o++) {
    let s = l.bias[o];
    for (let i = 0; i < l.inputs; i++) s += l.weight[o * l.inputs + i] * x[i];
    y[o] = s;
  }
  if (l.norm) {
    const mean = y.reduce((a, b) => a + b, 0) / y.length;
    const v = y.reduce((a, b) => a + (b - mean) ** 2, 0) / y.length;
    for (let o = 0; o < y.length; o++) y[o] = ((y[o] - mean) / Math.sqrt(v + l.norm.epsilon)) * l.norm.gamma[o] + l.norm.beta[o];
  }
  return y.map(act[l.activation]);
}

/** Reference score and reconstruction of one raw row, in float64. */
function forwardRef(net, row) {
  const z = Array.from(row, (v, j) => (v - net.mean[j]) / net.std[j]);
  let zhat;
  let kl = 0;
  if (net.kind === 'autoencoder') {
    zhat = net.layers.reduce((h, l) => denseRef(l, h), z);
  } else {
    const h = net.encoder.reduce((a, l) => denseRef(l, a), z);
    const mu = denseRef(net.mu, h);
    const lv = denseRef(net.logVar, h);
    zhat = net.decoder.reduce((a, l) => denseRef(l, a), mu);
    for (let k = 0; k < mu.length; k++) kl += -0.5 * (1 + lv[k] - mu[k] * mu[k] - Math.exp(lv[k]));
  }
  let score = 0;
  for (let j = 0; j < z.length; j++) score += (z[j] - zhat[j]) ** 2;
  return { score: score + (net.kind === 'vae' ? net.beta * kl : 0), recon: zhat.map((v, j) => v * net.std[j] + net.mean[j]) };
}

function rows(seed, n, d, scale = 2) {
  const rand = rng(seed);
  return Float32Array.from({ length: n * d }, () => gaussian(rand) * scale);
}

/** max |a - b| / max(1, |b|). */
function maxRelDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

async function runOrt(bytes, X, n, d) {
  const s = await ort.InferenceSession.create(bytes);
  const r = await s.run({ input: new ort.Tensor('float32', X, [n, d]) });
  await s.release();
  return r;
}

// ------------------------------------------------------------------ hand-built ONNX models (a model "trained elsewhere")

function valueInfo(name, elemType, dims) {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, new ProtoWriter().int(1, elemType).message(2, shape)));
}

function floatInit(name, values, dims) {
  const raw = new Uint8Array(Float32Array.from(values).buffer);
  return new ProtoWriter().packedInts(1, dims).int(2, 1).string(8, name).bytes(9, raw);
}

function node(op, inputs, output, attrs = []) {
  const n = new ProtoWriter();
  inputs.forEach((i) => n.string(1, i));
  n.string(2, output).string(4, op);
  for (const a of attrs) n.message(5, a);
  return n;
}

/** Model bytes: opset 13, the given nodes/initializers/inputs/outputs. */
function model({ nodes, inits = [], inputs, outputs }) {
  const g = new ProtoWriter();
  nodes.forEach((n) => g.message(1, n));
  g.string(2, 'external');
  inits.forEach((t) => g.message(5, t));
  inputs.forEach((v) => g.message(11, v));
  outputs.forEach((v) => g.message(12, v));
  return new ProtoWriter().int(1, 8).string(2, 'test').message(7, g).message(8, new ProtoWriter().string(1, '').int(2, 13)).finish();
}

/** A linear "autoencoder" x [batch, 4] -> recon = x W^T + b, plus an extra output 'code' = x V^T [batch, 2]. */
function linearModel(seed = 3) {
  const rand = rng(seed);
  const W = Array.from({ length: 16 }, () => gaussian(rand) * 0.4);
  const b = Array.from({ length: 4 }, () => gaussian(rand) * 0.1);
  const V = Array.from({ length: 8 }, () => gaussian(rand));
  const transB = new ProtoWriter().string(1, 'transB').int(3, 1).int(20, 2);
  return model({
    nodes: [node('Gemm', ['x', 'W', 'b'], 'recon', [transB]), node('Gemm', ['x', 'V'], 'code', [transB])],
    inits: [floatInit('W', W, [4, 4]), floatInit('b', b, [4]), floatInit('V', V, [2, 4])],
    inputs: [valueInfo('x', 1, ['batch', 4])],
    outputs: [valueInfo('recon', 1, ['batch', 4]), valueInfo('code', 1, ['batch', 2])],
  });
}

/** A fixed-batch scorer (as a naive PyTorch export): x [1, 3] -> s [1] = sum((x - c)^2). */
function fixedBatchModel() {
  const axes = new ProtoWriter().string(1, 'axes').packedInts(8, [1]).int(20, 7);
  const keep = new ProtoWriter().string(1, 'keepdims').int(3, 0).int(20, 2);
  return model({
    nodes: [node('Sub', ['x', 'c'], 'diff'), node('ReduceSumSquare', ['diff'], 's', [axes, keep])],
    inits: [floatInit('c', [0.5, -1, 2], [3])],
    inputs: [valueInfo('x', 1, [1, 3])],
    outputs: [valueInfo('s', 1, [1])],
  });
}

function shaped(data, d) {
  return { data, rows: data.length / d, cols: d };
}

async function rejects(p, cls, re) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof cls, `expected ${cls.name} but got ${e && e.constructor.name}: ${e && e.message}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}

function throws(fn, cls, re) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof cls, `expected ${cls.name} but got ${e && e.constructor.name}: ${e && e.message}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}

const quiet = () => {};

// ------------------------------------------------------------------ tests

describe('ONNX export', function () {
  const n = 300;
  const cases = [
    ['relu', autoencoder(1, 7, [16, 4, 16], ['relu'])],
    ['tanh', autoencoder(2, 7, [16, 4, 16], ['tanh'])],
    ['sigmoid', autoencoder(3, 7, [16, 4, 16], ['sigmoid'])],
    ['identity', autoencoder(4, 7, [5], ['identity'])],
    ['mixed with layer norm', autoencoder(5, 9, [24, 6, 24], ['relu', 'tanh', 'sigmoid'], true)],
    ['default-sized (21, [64, 32])', autoencoder(6, 21, [64, 32, 64], ['relu'])],
    ['vae', vae(7, 8)],
    // Standardization is folded into the first and last layers; a last layer with an activation or
    // a norm keeps an explicit product with std, and a VAE without encoder layers folds into its heads.
    ['last layer with sigmoid and layer norm', (() => { const net = autoencoder(12, 7, [10], ['relu']); net.layers[1] = randomLayer(rng(13), 10, 7, 'sigmoid', true); return net; })()],
    ['vae without encoder layers', (() => { const r = rng(14); return { kind: 'vae', ...stats(r, 6), encoder: [], mu: randomLayer(r, 6, 2, 'identity'), logVar: randomLayer(r, 6, 2, 'identity'), decoder: [randomLayer(r, 2, 6, 'identity')], beta: 1 }; })()],
  ];
  for (const [name, net] of cases) {
    it(`matches a plain forward pass: ${name}`, async function () {
      const d = net.mean.length;
      const X = rows(10, n, d);
      const r = await runOrt(networkToOnnx(net), X, n, d);
      assert.deepStrictEqual(r.score.dims, [n]);
      assert.deepStrictEqual(r.reconstruction.dims, [n, d]);
      const refScore = new Float64Array(n);
      const refRecon = new Float64Array(n * d);
      for (let i = 0; i < n; i++) {
        const f = forwardRef(net, X.subarray(i * d, (i + 1) * d));
        refScore[i] = f.score;
        refRecon.set(f.recon, i * d);
      }
      assert.ok(maxRelDiff(r.score.data, refScore) <= 1e-4, `score diff ${maxRelDiff(r.score.data, refScore)}`);
      assert.ok(maxRelDiff(r.reconstruction.data, refRecon) <= 1e-4, `reconstruction diff ${maxRelDiff(r.reconstruction.data, refRecon)}`);
    });
  }

  it('matches a plain forward pass on features of very different scales and offsets', async function () {
    const d = 6;
    const net = autoencoder(15, d, [8, 3, 8], ['relu']);
    net.mean = Float32Array.from([1e3, -250, 0.001, 5e4, 0, 12]);
    net.std = Float32Array.from([1e-3, 40, 1e-5, 3e3, 1, 0.2]);
    const g = rng(16);
    const X = Float32Array.from({ length: n * d }, (_, k) => net.mean[k % d] + net.std[k % d] * gaussian(g) * 1.5);
    const r = await runOrt(networkToOnnx(net), X, n, d);
    const ref = Float64Array.from({ length: n }, (_, i) => forwardRef(net, X.subarray(i * d, (i + 1) * d)).score);
    assert.ok(maxRelDiff(r.score.data, ref) <= 1e-4, `score diff ${maxRelDiff(r.score.data, ref)}`);
  });

  it('writes the same scores at every supported opset (13, 17, 18 with axes as inputs, 21)', async function () {
    const net = vae(8, 6);
    const X = rows(11, 50, 6);
    const base = (await runOrt(networkToOnnx(net), X, 50, 6)).score.data;
    for (const opset of [17, 18, 21]) {
      const bytes = networkToOnnx(net, { opset });
      assert.strictEqual(readOnnxInfo(bytes).opsets[''], opset);
      assert.ok(maxAbsDiff((await runOrt(bytes, X, 50, 6)).score.data, base) <= 1e-5);
    }
  });

  it('describes its inputs and outputs (dynamic N) and names nadir as producer', function () {
    const info = readOnnxInfo(networkToOnnx(autoencoder(1, 5, [3], ['relu'])));
    assert.strictEqual(info.producerName, 'nadir');
    assert.strictEqual(info.opsets[''], 13);
    assert.deepStrictEqual(info.inputs, [{ name: 'input', type: 'float32', shape: ['N', 5] }]);
    assert.deepStrictEqual(info.outputs, [
      { name: 'score', type: 'float32', shape: ['N'] },
      { name: 'reconstruction', type: 'float32', shape: ['N', 5] },
    ]);
  });

  it('rejects malformed networks and options with clear errors', function () {
    const net = autoencoder(1, 5, [3], ['relu']);
    throws(() => networkToOnnx({ ...net, layers: [net.layers[0]] }), nadir.DataError, /3 outputs but the network's input has 5/);
    throws(() => networkToOnnx({ ...net, std: new Float32Array(5) }), nadir.DataError, /std\[0\] is 0/);
    throws(() => networkToOnnx({ ...net, layers: [{ ...net.layers[0], activation: 'gelu' }, net.layers[1]] }), nadir.DataError, /unknown activation 'gelu'/);
    throws(() => networkToOnnx(net, { opset: 12 }), nadir.OptionError, /opset/);
    throws(() => networkToOnnx(net, { opsett: 13 }), nadir.OptionError, /Did you mean 'opset'/);
    throws(() => networkToOnnx({ kind: 'gan' }), nadir.DataError, /autoencoder' or 'vae'/);
  });
});

describe('ONNX reader', function () {
  it('rejects bytes that are not an ONNX model, naming the problem', function () {
    const good = networkToOnnx(autoencoder(1, 5, [3], ['relu']));
    const rand = rng(5);
    const random = Uint8Array.from({ length: 4096 }, () => Math.floor(rand() * 256));
    const json = new TextEncoder().encode(JSON.stringify({ model: 'not onnx', layers: [1, 2] }));
    const bad = [
      [random, /not a valid ONNX model/],
      [json, /looks like JSON/],
      [good.subarray(0, good.length - 100), /truncated/],
      [good.subarray(0, 20), /not a valid ONNX model/],
      [new Uint8Array(0), /empty/],
    ];
    for (const [bytes, re] of bad) throws(() => readOnnxInfo(bytes), nadir.ModelFileError, re);
  });

  it('ignores initializers listed as graph inputs (old exporters) and reads fixed dims', function () {
    const info = readOnnxInfo(fixedBatchModel());
    assert.deepStrictEqual(info.inputs, [{ name: 'x', type: 'float32', shape: [1, 3] }]);
  });
});

describe('OnnxDetector', function () {
  const d = 4;
  const data = synthetic({ rows: 600, cols: d, seed: 4 });
  const X = data.X;

  it('wraps an external reconstruction model: fit calibrates, score, predict, normalize, explain', async function () {
    const file = tmpFile('linear.onnx');
    fs.writeFileSync(file, linearModel());
    const det = OnnxDetector.load(file, { output: 'recon', score: 'reconstruction', contamination: 0.05, executionProvider: 'cpu' });
    assert.strictEqual(det.fitted, false);
    assert.strictEqual(det.inputName, 'x');
    await det.fit(X);
    const s = await det.score(X);
    // Score = squared error between the rows and the model's reconstruction.
    const r = await (await OnnxSession.create(det.modelBytes, { executionProvider: 'cpu' })).run('x', X.data, X.rows, d, ['recon']);
    const ref = nadir.reconstructionError(X, { data: r.arrays[0], rows: X.rows, cols: d }).scores;
    assert.ok(maxAbsDiff(s, ref) <= 1e-6);
    const labels = await det.predict(X);
    assert.ok(Math.abs(labels.reduce((a, b) => a + b, 0) / X.rows - 0.05) < 0.02);
    const norm = det.normalize(s);
    assert.ok(norm.every((v) => v >= 0 && v <= 1));
    const ex = await det.explain(X.sliceRows(0, 10));
    for (let i = 0; i < 10; i++) assert.ok(Math.abs(ex.row(i).reduce((a, b) => a + b, 0) - s[i]) <= 1e-4 * Math.max(1, s[i]));
    // scoreSync goes through ONNX Runtime's blocking session: same scores.
    assert.ok(maxAbsDiff(det.scoreSync(X.row(3)), s.subarray(3, 4)) <= 1e-5 * Math.max(1, s[3]));
    assert.ok(maxRelDiff(det.scoreSync(X), s) <= 1e-5);
    await det.close();
  });

  it('save -> load round trip gives identical scores (model bytes embedded)', async function () {
    const det = OnnxDetector.load(linearModel(), { output: 'recon', score: 'reconstruction', standardize: true, executionProvider: 'cpu', seed: 1 });
    await det.fit(X);
    const s = await det.score(X);
    const file = tmpFile('onnx.nadir');
    det.save(file);
    const a = OnnxDetector.load(file);
    const b = nadir.loadDetector(file);
    assert.ok(b instanceof OnnxDetector);
    assert.deepStrictEqual(await a.score(X), s);
    assert.deepStrictEqual(await b.score(X), s);
    assert.deepStrictEqual(a.threshold, det.threshold);
    assert.deepStrictEqual(a.modelBytes, det.modelBytes);
    assert.deepStrictEqual(OnnxDetector.fromBytes(det.toBytes()).scoreSync(X), det.scoreSync(X));
    throws(() => OnnxDetector.load(file, { score: 'output' }), nadir.OptionError, /carries its own options/);
    await Promise.all([det.close(), a.close(), b.close()]);
  });

  it('standardize: true learns the fit statistics; explicit { mean, std } gives the same scores', async function () {
    const mean = new Float64Array(d);
    const sq = new Float64Array(d);
    for (let i = 0; i < X.rows; i++) for (let j = 0; j < d; j++) { const v = X.data[i * d + j]; mean[j] += v; sq[j] += v * v; }
    const m = Array.from(mean, (v) => v / X.rows);
    const sd = m.map((mu, j) => Math.sqrt(sq[j] / X.rows - mu * mu));
    const a = OnnxDetector.load(linearModel(), { output: 'recon', score: 'reconstruction', standardize: true, executionProvider: 'cpu' });
    const b = OnnxDetector.load(linearModel(), { output: 'recon', score: 'reconstruction', standardize: { mean: m, std: Float32Array.from(sd) }, executionProvider: 'cpu' });
    await a.fit(X);
    await b.fit(X);
    assert.ok(maxRelDiff(await a.score(X), await b.score(X)) <= 1e-4);
    // And a saved detector with explicit arrays keeps them (options stay JSON-safe).
    const file = tmpFile('std.nadir');
    b.save(file);
    assert.deepStrictEqual(await OnnxDetector.load(file).score(X), await b.score(X));
  });

  it("score 'output' with a fixed-batch model (zero-padded chunks) and an exported nadir model", async function () {
    const det = OnnxDetector.load(fixedBatchModel(), { score: 'output', executionProvider: 'cpu' });
    const Z = rows(3, 7, 3);
    await det.fit(shaped(Z, 3));
    const c = [0.5, -1, 2];
    const ref = Array.from({ length: 7 }, (_, i) => c.reduce((a, cj, j) => a + (Z[i * 3 + j] - cj) ** 2, 0));
    assert.ok(maxRelDiff(await det.score(shaped(Z, 3)), ref) <= 1e-6);
    assert.ok(maxRelDiff(det.scoreSync(shaped(Z, 3)), ref) <= 1e-6);

    const net = autoencoder(9, d, [8, 2, 8], ['tanh']);
    const ae = OnnxDetector.load(networkToOnnx(net), { output: 'score', score: 'output', executionProvider: 'cpu' });
    await ae.fit(X);
    const s = await ae.score(X);
    for (const i of [0, 17, 333]) assert.ok(Math.abs(s[i] - forwardRef(net, X.row(i)).score) <= 1e-4 * Math.max(1, s[i]));
  });

  it("executionProvider 'cuda' without the CUDA provider throws the documented error; 'auto' says CPU once", async function () {
    if (cudaProviderInstalled()) this.skip();
    throws(() => resolveExecutionProvider('cuda'), nadir.ExecutionProviderError, /--onnxruntime-node-install=cuda12/);
    const det = OnnxDetector.load(linearModel(), { output: 'recon', score: 'reconstruction', executionProvider: 'cuda' });
    await rejects(det.fit(X), nadir.ExecutionProviderError, /CUDA provider is not installed.*ONNXRUNTIME_NODE_INSTALL=cuda12/);
    const lines = [];
    const logger = (l) => lines.push(l);
    assert.strictEqual(resolveExecutionProvider('auto', logger), 'cpu');
    assert.strictEqual(resolveExecutionProvider('auto', logger), 'cpu');
    assert.strictEqual(lines.length, 1);
    assert.match(lines[0], /runs on the CPU/);
    const s = await OnnxSession.create(linearModel(), { logger: quiet });
    assert.strictEqual(s.executionProvider, 'cpu');
    await s.close();
  });

  it('bad inputs: wrong width, NaN, unfitted, not ONNX, wrong names, unknown options', async function () {
    const opts = { output: 'recon', score: 'reconstruction', executionProvider: 'cpu' };
    const det = OnnxDetector.load(linearModel(), opts);
    await rejects(det.score(X), nadir.NotFittedError);
    await rejects(det.fit({ data: new Float32Array(30), rows: 10, cols: 3 }), nadir.DataError, /3 columns but the model's input 'x' float32 \[batch, 4\] takes 4/);
    await det.fit(X);
    await rejects(det.score([[1, 2, 3]]), nadir.DataError, /3 columns/);
    await rejects(det.score([[1, NaN, 3, 4]]), nadir.DataError, /NaN|finite/);
    throws(() => det.scoreSync([1, 2, 3, 4, 5]), nadir.DataError);

    const rand = rng(9);
    throws(() => OnnxDetector.load(Uint8Array.from({ length: 1000 }, () => Math.floor(rand() * 256)), opts), nadir.ModelFileError, /not a valid ONNX model/);
    const jsonFile = tmpFile('model.json');
    fs.writeFileSync(jsonFile, JSON.stringify({ weights: [1, 2, 3] }));
    throws(() => OnnxDetector.load(jsonFile, opts), nadir.ModelFileError, /model.json' is not a valid ONNX model: it looks like JSON/);
    const good = linearModel();
    throws(() => OnnxDetector.load(good.subarray(0, good.length - 40), opts), nadir.ModelFileError, /truncated/);
    throws(() => OnnxDetector.load('/nonexistent/model.onnx', opts), nadir.ModelFileError, /cannot read/);

    throws(() => OnnxDetector.load(good, { ...opts, input: 'features' }), nadir.OptionError, /no such input; its inputs are 'x'/);
    throws(() => OnnxDetector.load(good, { ...opts, output: 'reconstruction' }), nadir.OptionError, /its outputs are 'recon', 'code'/);
    throws(() => OnnxDetector.load(good, { score: 'reconstruction' }), nadir.OptionError, /2 outputs \('recon', 'code'\); choose one/);
    throws(() => OnnxDetector.load(good, { output: 'recon' }), nadir.OptionError, /needs the option 'score'/);
    throws(() => OnnxDetector.load(good, { ...opts, score: 'error' }), nadir.OptionError, /'reconstruction', 'output'/);
    throws(() => OnnxDetector.load(good, { ...opts, exectionProvider: 'cpu' }), nadir.OptionError, /Unknown option 'exectionProvider'.*Did you mean 'executionProvider'/);
    throws(() => OnnxDetector.load(good, { ...opts, executionProvider: 'gpu' }), nadir.OptionError, /'auto', 'cpu', 'cuda'/);
    throws(() => OnnxDetector.load(good, { ...opts, standardize: { mean: [0, 0, 0, 0], std: [1, 0, 1, 1] } }), nadir.OptionError, /std\[1\]/);
    throws(() => OnnxDetector.load(good, { ...opts, standardize: { mean: [0, 0], std: [1, 1] } }), nadir.OptionError, /input has 4 features/);
    throws(() => OnnxDetector.load(good, { output: 'recon', score: 'output' }), nadir.ModelFileError, /per-row score/);
    throws(() => OnnxDetector.load(good, { output: 'code', score: 'reconstruction' }), nadir.ModelFileError, /as wide as the input/);
    const intModel = model({ nodes: [node('Identity', ['x'], 'y')], inputs: [valueInfo('x', 7, ['n', 2])], outputs: [valueInfo('y', 7, ['n', 2])] });
    throws(() => OnnxDetector.load(intModel, { score: 'reconstruction' }), nadir.ModelFileError, /'x' int64 \[n, 2\] is not float32/);
    await rejects(new OnnxDetector({ score: 'output' }).fit(X), nadir.NadirError, /has no model/);
    // Well-formed protobuf that ONNX Runtime refuses (an unknown operator).
    const unknownOp = model({ nodes: [node('NoSuchOp', ['x'], 'y')], inputs: [valueInfo('x', 1, ['n', 2])], outputs: [valueInfo('y', 1, ['n', 2])] });
    await rejects(OnnxDetector.load(unknownOp, { score: 'reconstruction', executionProvider: 'cpu' }).fit([[1, 2]]), nadir.ModelFileError, /ONNX Runtime could not load the model.*NoSuchOp/);
    await det.close();
  });
});

describe('ONNX Runtime sessions: worker threads', function () {
  const net = autoencoder(12, 21, [64, 32, 64], ['relu']);
  const bytes = networkToOnnx(net);
  const n = 120000;
  const X = rows(13, n, 21);

  it('large batches in worker threads give the same scores as inline runs, and the event loop keeps ticking', async function () {
    const inline = await OnnxSession.create(bytes, { executionProvider: 'cpu', threads: 1, workers: 0, batchSize: 4096 });
    // One chunk per batch: the whole batch is a single blocking ONNX Runtime call, made in a worker.
    const pooled = await OnnxSession.create(bytes, { executionProvider: 'cpu', threads: 1, workers: 1, batchSize: n, workerThreshold: 10000 });
    const a = await inline.run('input', X, n, 21, ['score', 'reconstruction']);
    await pooled.run('input', X, n, 21, ['score']); // starts the worker
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const b = await pooled.run('input', X, n, 21, ['score', 'reconstruction']);
    clearInterval(timer);
    assert.ok(ticks > 0, 'no timer tick ran while the workers scored');
    assert.deepStrictEqual(b.widths, [1, 21]);
    assert.ok(maxRelDiff(b.arrays[0], a.arrays[0]) <= 1e-5);
    assert.ok(maxRelDiff(b.arrays[1], a.arrays[1]) <= 1e-5);
    // Small batches stay on the main thread; the two paths agree there too.
    const c = await pooled.run('input', X.subarray(0, 21 * 100), 100, 21, ['score']);
    assert.ok(maxRelDiff(c.arrays[0], a.arrays[0].subarray(0, 100)) <= 1e-5);
    await Promise.all([inline.close(), pooled.close()]);
  });

  it('OnnxDetector scores the same through workers and inline', async function () {
    const Y = { data: X.subarray(0, 30000 * 21), rows: 30000, cols: 21 };
    const opts = { output: 'score', score: 'output', executionProvider: 'cpu', batchSize: 4096 };
    const a = OnnxDetector.load(bytes, { ...opts, workers: 0 });
    const b = OnnxDetector.load(bytes, { ...opts, workers: 2, workerThreshold: 5000, threads: 2 }); // 8 chunks over 2 workers
    await a.fit(Y);
    await b.fit(Y);
    assert.ok(maxRelDiff(await b.score(Y), await a.score(Y)) <= 1e-5);
    assert.strictEqual(b.threshold.toFixed(3), a.threshold.toFixed(3));
    await Promise.all([a.close(), b.close()]);
  });
});
