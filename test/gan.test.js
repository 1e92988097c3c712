'use strict';
const assert = require('assert');
const nadir = require('..');
const ort = require('onnxruntime-node');
const { native } = require('../dist/binding');
const { rng, shipped, synthetic, tmpFile, maxRelDiff, atEachLevel } = require('./helpers');

const ACT = { identity: 0, relu: 1, tanh: 2, sigmoid: 3, leakyRelu: 4 };

// A small GAN plan: E d -> h -> k, G k -> h -> d, D (d + k) -> h -> h2 -> 1, and with cycle, X 2d -> h -> 1.
function smallGan(d, k, act, cycle) {
  const a = ACT[act];
  const layers = [[d, 5, a], [5, k, 0], [k, 5, a], [5, d, 0], [d + k, 6, a], [6, 3, a], [3, 1, 0], ...(cycle ? [[2 * d, 4, a], [4, 1, 0]] : [])];
  const plan = Int32Array.from([1, d, k, 2, 2, 3, cycle ? 2 : 0, ...layers.flat()]);
  let size = 2 * d;
  const owner = [];
  layers.forEach(([i, o], l) => {
    for (let q = 0; q < i * o + o; q++) owner.push(l < 4 ? 1 : 0);
    size += i * o + o;
  });
  return { plan, size, owner, first: 2 * d };
}

function gradCheckGan(act, player, cycle = false) {
  const d = 4;
  const k = 2;
  const rows = 5;
  const { plan, size, owner, first } = smallGan(d, k, act, cycle);
  const rand = rng(17);
  const P = Float64Array.from({ length: size }, (_, i) => (i < first ? 0 : (rand() * 2 - 1) * 0.8));
  const Z = Float64Array.from({ length: rows * d }, () => (rand() * 2 - 1) * 1.5);
  const zp = Float64Array.from({ length: rows * k }, () => rand() * 2 - 1);
  const f = () => native.ganLossGrad(plan, P, Z, zp, rows, player, 0.9, 0.7);
  const { loss, grad } = f();
  assert.ok(Number.isFinite(loss) && loss > 0);
  let worst = 0;
  const h = 1e-6;
  for (let q = first; q < size; q++) {
    const mine = owner[q - first] === player;
    if (!mine) {
      assert.strictEqual(grad[q], 0, `parameter ${q} belongs to the other player`);
      continue;
    }
    const v = P[q];
    P[q] = v + h;
    const up = f().loss;
    P[q] = v - h;
    const down = f().loss;
    P[q] = v;
    const fd = (up - down) / (2 * h);
    worst = Math.max(worst, Math.abs(fd - grad[q]) / Math.max(1e-6, Math.abs(fd) + Math.abs(grad[q])));
  }
  assert.ok(worst < 1e-5, `worst relative gradient error ${worst}`);
}

async function fitted(options, X) {
  const det = new nadir.GanDetector({ seed: 1, threads: 1, epochs: 15, logger: () => {}, ...options });
  await det.fit(X);
  return det;
}

describe('GanDetector', function () {
  this.timeout(60000);
  const cardio = shipped('cardio');
  const syn = synthetic({ rows: 1000, cols: 8, seed: 3 });
  let cardioDet; // defaults (50 epochs) on cardio, seed 1
  let synDet;

  before(async () => {
    cardioDet = new nadir.GanDetector({ seed: 1, threads: 1, logger: () => {} });
    await cardioDet.fit(cardio.X);
    synDet = await fitted({ logger: () => {} }, syn.X);
  });

  describe('gradients (finite differences, double)', () => {
    for (const act of ['leakyRelu', 'tanh', 'relu']) {
      it(`discriminator BCE-with-logits loss (label smoothing 0.9), ${act}`, () => gradCheckGan(act, 0));
      it(`encoder + generator non-saturating BCE + cycle loss, ${act}`, () => gradCheckGan(act, 1));
    }
    it('with the cycle discriminator D_xx: both players', () => {
      gradCheckGan('leakyRelu', 0, true);
      gradCheckGan('leakyRelu', 1, true);
    });

    it('spectral normalization backward (u, v held constant, as in training)', () => {
      const out = 4;
      const inputs = 3;
      const rand = rng(5);
      const W = Float64Array.from({ length: out * inputs }, () => rand() * 2 - 1);
      const G = Float64Array.from({ length: out * inputs }, () => rand() * 2 - 1);
      const norm = (a) => Math.hypot(...a);
      const u0 = Float64Array.from({ length: out }, () => rand() - 0.5);
      const v0 = Float64Array.from({ length: inputs }, () => rand() - 0.5);
      const u = u0.map((x) => x / norm(u0));
      const v = v0.map((x) => x / norm(v0));
      const sigma = (w) => {
        let s = 0;
        for (let o = 0; o < out; o++) for (let i = 0; i < inputs; i++) s += u[o] * w[o * inputs + i] * v[i];
        return s;
      };
      // L(W) = <G, W / sigma(W)>, so dL/dW_sn = G.
      const L = (w) => {
        const s = sigma(w);
        return w.reduce((a, x, q) => a + (G[q] * x) / s, 0);
      };
      const g = native.ganSpectralBackward(W, out, inputs, u, v, sigma(W), G);
      const h = 1e-6;
      for (let q = 0; q < W.length; q++) {
        const x = W[q];
        W[q] = x + h;
        const up = L(W);
        W[q] = x - h;
        const down = L(W);
        W[q] = x;
        const fd = (up - down) / (2 * h);
        assert.ok(Math.abs(fd - g[q]) <= 1e-6 * (1 + Math.abs(fd)), `entry ${q}: ${g[q]} vs ${fd}`);
      }
    });
  });

  it('has the documented defaults and shapes', () => {
    const net = cardioDet.network;
    const shape = (ls) => ls.map((l) => [l.inputs, l.outputs, l.activation]);
    assert.deepStrictEqual(shape(net.encoder), [[21, 64, 'leakyRelu'], [64, 16, 'identity']]);
    assert.deepStrictEqual(shape(net.generator), [[16, 64, 'leakyRelu'], [64, 21, 'identity']]);
    assert.deepStrictEqual(shape(net.discriminator), [[37, 128, 'leakyRelu'], [128, 64, 'leakyRelu'], [64, 1, 'identity']]);
    assert.deepStrictEqual(net.cycleDiscriminator, []);
    assert.strictEqual(cardioDet.scoreType, 'reconstruction');
    const h = cardioDet.history;
    for (const k of ['dLoss', 'gLoss', 'cycleLoss', 'dReal', 'dFake', 'varRatio']) {
      assert.strictEqual(h[k].length, 50, k);
      assert.ok(h[k].every(Number.isFinite), k);
    }
    assert.deepStrictEqual(h.warnings, []);
  });

  it('reaches the AUC floor on cardio (shipped) and seeded synthetic data', async () => {
    assert.ok(nadir.rocAuc(await cardioDet.score(cardio.X), cardio.labels) > 0.82);
    assert.ok(nadir.rocAuc(await synDet.score(syn.X), syn.labels) > 0.97);
    // The feature score from the same networks is useful too.
    const c = await cardioDet.scoreComponents(cardio.X);
    const feature = Float32Array.from({ length: c.rows }, (_, i) => c.data[i * 3 + 2]);
    assert.ok(nadir.rocAuc(feature, cardio.labels) > 0.7);
  });

  it('onEpoch reports both losses every epoch; history keeps them', async () => {
    const seen = [];
    const det = await fitted({ epochs: 4, onEpoch: (e) => seen.push(e) }, syn.X);
    assert.deepStrictEqual(seen.map((e) => e.epoch), [1, 2, 3, 4]);
    for (const e of seen) for (const k of ['dLoss', 'gLoss', 'cycleLoss', 'dReal', 'dFake', 'varRatio', 'seconds']) assert.ok(Number.isFinite(e[k]), k);
    assert.deepStrictEqual(Array.from(det.history.dLoss), seen.map((e) => Math.fround(e.dLoss)));
    assert.deepStrictEqual(Array.from(det.history.gLoss), seen.map((e) => Math.fround(e.gLoss)));
    await assert.rejects(fitted({ epochs: 4, onEpoch: () => { throw new Error('stop here'); } }, syn.X), /stop here/);
    // Per-call hooks (what the CLI passes) override the constructor's; loss / valLoss read like AutoEncoder's.
    const perCall = [];
    const h = new nadir.GanDetector({ seed: 1, threads: 1, epochs: 2, logger: () => {}, onEpoch: () => assert.fail('constructor hook called') });
    await h.fit(syn.X, { onEpoch: (e) => perCall.push(e) });
    assert.strictEqual(perCall.length, 2);
    assert.ok(Math.abs(perCall[1].loss - (perCall[1].gLoss + perCall[1].cycleLoss)) < 1e-9 && Number.isNaN(perCall[1].valLoss));
    await assert.rejects(h.fit(syn.X, { onEpoch: 5 }), nadir.OptionError);
    const ac = new AbortController();
    await assert.rejects(fitted({ epochs: 50, onEpoch: (e) => e.epoch === 2 && ac.abort(), signal: ac.signal }, syn.X), (e) => e instanceof nadir.AbortError);
  });

  it('is deterministic: same seed => bit-identical networks and scores; another seed differs', async () => {
    const a = await fitted({}, syn.X);
    const b = await fitted({}, syn.X);
    const c = await fitted({ seed: 2 }, syn.X);
    assert.deepStrictEqual(a.network.discriminator[0].weight, b.network.discriminator[0].weight);
    assert.deepStrictEqual(await a.score(syn.X), await b.score(syn.X));
    assert.deepStrictEqual(a.history.dLoss, b.history.dLoss);
    assert.notDeepStrictEqual(await a.score(syn.X), await c.score(syn.X));
  });

  it('warns once about mode collapse on a generator that cannot learn, and not on a normal run', async () => {
    const lines = [];
    // Learning rate 0 keeps G at its initialization, whose outputs have ~5% of the data's variance.
    const det = await fitted({ generatorLearningRate: 0, epochs: 6, logger: (l) => lines.push(l) }, syn.X);
    assert.strictEqual(lines.length, 1);
    assert.match(lines[0], /mode collapse/);
    assert.match(lines[0], /Try /);
    assert.deepStrictEqual(det.history.warnings, lines);
    assert.ok(det.history.varRatio.at(-1) < 0.1);
    const quiet = [];
    await fitted({ epochs: 6, generatorLearningRate: 0, collapseThreshold: 0, logger: (l) => quiet.push(l) }, syn.X);
    assert.deepStrictEqual(quiet, []);
    const normal = [];
    const n = new nadir.GanDetector({ seed: 1, threads: 1, logger: (l) => normal.push(l) });
    await n.fit(cardio.X.sliceRows(0, 800));
    assert.deepStrictEqual(normal, []);
    assert.ok(n.history.varRatio.at(-1) >= 0.1);
  });

  it('scoreSync (one row and a batch), score and explain agree; explain names the injected feature', async () => {
    const X = cardio.X.sliceRows(0, 70);
    const s = cardioDet.scoreSync(X);
    assert.deepStrictEqual(await cardioDet.score(X), s);
    assert.deepStrictEqual(cardioDet.scoreSync(cardio.X.row(9)), s.subarray(9, 10));
    const ex = await cardioDet.explain(X);
    assert.strictEqual(ex.rows, 70);
    assert.strictEqual(ex.cols, 21);
    for (let i = 0; i < 70; i++) {
      let sum = 0;
      for (let j = 0; j < 21; j++) sum += ex.data[i * 21 + j];
      assert.ok(Math.abs(sum - s[i]) <= 1e-4 * (1 + s[i]));
    }
    const row = Float32Array.from(cardio.X.row(3));
    row[5] += 12 * cardioDet.network.std[5];
    const e = (await cardioDet.explain(row)).data;
    assert.strictEqual(e.indexOf(Math.max(...e)), 5);
    assert.ok(cardioDet.scoreSync(row)[0] > s[3]);
  });

  it('every score kind: batch = scoreSync; mix = weighted components over their training std', async () => {
    const X = syn.X.sliceRows(0, 100);
    const comps = await synDet.scoreComponents(X);
    const scales = synDet.componentScales;
    for (const [score, k] of [['reconstruction', 0], ['discriminator', 1], ['feature', 2]]) {
      const det = nadir.GanDetector.fromBytes(withScore(synDet, score));
      const s = await det.score(X);
      assert.deepStrictEqual(det.scoreSync(X), s);
      for (let i = 0; i < 100; i++) assert.strictEqual(s[i], comps.data[i * 3 + k]);
    }
    const mix = new nadir.GanDetector({ seed: 1, threads: 1, epochs: 15, logger: () => {}, score: 'mix', scoreWeights: { reconstruction: 1, discriminator: 0.25, feature: 2 } });
    await mix.fit(syn.X);
    const m = await mix.score(X);
    const c = await mix.scoreComponents(X);
    const sc = mix.componentScales;
    for (let i = 0; i < 100; i++) {
      const want = (1 * c.data[i * 3]) / sc[0] + (0.25 * c.data[i * 3 + 1]) / sc[1] + (2 * c.data[i * 3 + 2]) / sc[2];
      assert.ok(Math.abs(m[i] - want) <= 1e-4 * (1 + Math.abs(want)));
    }
    assert.ok(scales.every((v) => v > 0));
  });

  it('contamination sets the threshold; predict and normalize follow it', async () => {
    const det = await fitted({ contamination: 0.05 }, syn.X);
    const flagged = (await det.predict(syn.X)).reduce((a, v) => a + v, 0);
    assert.ok(Math.abs(flagged - 50) <= 2, `flagged ${flagged}`);
    const n = det.normalize(await det.score(syn.X));
    assert.ok(n.every((v) => v >= 0 && v <= 1));
  });

  it('save -> load gives exactly the same scores (Detector.load and loadDetector)', async () => {
    const file = tmpFile('gan.nadir');
    cardioDet.save(file);
    const a = nadir.GanDetector.load(file);
    const b = nadir.loadDetector(file);
    assert.ok(b instanceof nadir.GanDetector);
    const want = await cardioDet.score(cardio.X);
    assert.deepStrictEqual(await a.score(cardio.X), want);
    assert.deepStrictEqual(b.scoreSync(cardio.X), want);
    assert.strictEqual(a.threshold, cardioDet.threshold);
    assert.deepStrictEqual(a.history.dLoss, cardioDet.history.dLoss);
    assert.deepStrictEqual(a.componentScales, cardioDet.componentScales);
    for (const part of ['encoder', 'generator', 'discriminator'])
      a.network[part].forEach((l, i) => assert.deepStrictEqual(l.weight, cardioDet.network[part][i].weight));
    assert.throws(() => nadir.AutoEncoder.load(file), /not a AutoEncoder|GanDetector/);
  });

  it('toOnnx(): ONNX Runtime matches the native forward pass for every score (max rel diff <= 1e-4)', async () => {
    const X = cardio.X.sliceRows(0, 300);
    const mixDet = nadir.GanDetector.fromBytes(withScore(cardioDet, 'mix'));
    for (const det of [cardioDet, mixDet]) {
      for (const score of ['reconstruction', 'discriminator', 'feature', 'mix']) {
        const bytes = det.toOnnx({ score });
        const session = await ort.InferenceSession.create(bytes);
        const out = await session.run({ input: new ort.Tensor('float32', X.data, [X.rows, X.cols]) });
        const comps = await det.scoreComponents(X);
        const native = score === det.scoreType ? det.scoreSync(X) : pick(comps, det, score);
        assert.ok(maxRelDiff(out.score.data, native) <= 1e-4, `${score}: ${maxRelDiff(out.score.data, native)}`);
        assert.deepStrictEqual(out.reconstruction.dims, [300, 21]);
        await session.release();
      }
    }
    // ALAD's cycle discriminator: the feature score comes from D_xx.
    const cyc = new nadir.GanDetector({ seed: 1, threads: 1, epochs: 5, cycleDiscriminator: true, score: 'feature', logger: () => {} });
    await cyc.fit(cardio.X);
    assert.strictEqual(cyc.network.cycleDiscriminator.length, 3);
    assert.deepStrictEqual(cyc.network.cycleDiscriminator.map((l) => [l.inputs, l.outputs]), [[42, 128], [128, 64], [64, 1]]);
    const cs = await ort.InferenceSession.create(cyc.toOnnx());
    const co = await cs.run({ input: new ort.Tensor('float32', X.data, [X.rows, X.cols]) });
    assert.ok(maxRelDiff(co.score.data, cyc.scoreSync(X)) <= 1e-4);
    await cs.release();
    const cycBack = nadir.GanDetector.fromBytes(cyc.toBytes());
    assert.deepStrictEqual(cycBack.scoreSync(X), cyc.scoreSync(X));
    const lean = await ort.InferenceSession.create(cardioDet.toOnnx({ reconstruction: false, opset: 17 }));
    assert.deepStrictEqual(lean.outputNames, ['score']);
    await lean.release();
    assert.throws(() => cardioDet.toOnnx({ score: 'bogus' }), nadir.OptionError);
    assert.throws(() => cardioDet.toOnnx({ opset: 9 }), nadir.OptionError);
  });

  it('SIMD levels give the same scores within float error', async () => {
    const X = cardio.X.sliceRows(0, 200);
    const runs = await atEachLevel(() => cardioDet.scoreSync(X));
    for (const r of runs) assert.ok(maxRelDiff(r.result, runs[0].result) <= 1e-4, r.level);
  });

  it('process.exit() or terminating a worker_thread during training neither hangs nor crashes', () => {
    const { execFileSync } = require('child_process');
    const root = require('path').join(__dirname, '..').replace(/\\/g, '/');
    const run = (script) => execFileSync(process.execPath, ['-e', script], { cwd: root, timeout: 20000 }).toString();
    const setup = `const nadir = require('${root}'); const rows = []; for (let i = 0; i < 300; i++) rows.push([Math.sin(i), Math.cos(i), i % 5]);`;
    assert.strictEqual(run(`${setup} new nadir.GanDetector({ seed: 1, epochs: 1e6, threads: 1 }).fit(rows); setTimeout(() => { console.log('bye'); process.exit(0); }, 100);`).trim(), 'bye');
    const out = run(`
      const { Worker } = require('worker_threads');
      (async () => {
        for (const hook of ['', ', onEpoch: () => {}']) {
          const w = new Worker(\`${setup} const { parentPort } = require('worker_threads');
            new nadir.GanDetector({ seed: 1, epochs: 1e6, threads: 1, logger: () => {} \${hook} }).fit(rows); parentPort.postMessage('go');\`, { eval: true });
          await new Promise((r) => w.once('message', r));
          await new Promise((r) => setTimeout(r, 50));
          await w.terminate();
        }
        console.log('done');
      })();`);
    assert.strictEqual(out.trim(), 'done');
  });

  it('rejects bad input and options with clear errors', async () => {
    const det = new nadir.GanDetector({ seed: 1 });
    assert.throws(() => det.scoreSync(cardio.X), nadir.NotFittedError);
    await assert.rejects(det.score(cardio.X), nadir.NotFittedError);
    await assert.rejects(det.fit(new nadir.Matrix(new Float32Array(0), 0, 3)), nadir.DataError);
    await assert.rejects(det.fit(new nadir.Matrix(new Float32Array(3), 1, 3)), /at least 2/);
    const bad = Float32Array.from(syn.X.data.subarray(0, 80));
    bad[17] = NaN;
    await assert.rejects(det.fit(new nadir.Matrix(bad, 10, 8)), nadir.DataError);
    await assert.rejects(synDet.score(new nadir.Matrix(bad, 10, 8)), /NaN/);
    assert.throws(() => synDet.scoreSync(new nadir.Matrix(bad, 10, 8)), /NaN/);
    assert.throws(() => synDet.scoreSync(new Float32Array(5)), nadir.DataError);
    const opt = (o, re) => assert.throws(() => new nadir.GanDetector(o), (e) => e instanceof nadir.OptionError && re.test(e.message));
    opt({ latentSze: 4 }, /Unknown option 'latentSze'.*latentSize/);
    opt({ latentSize: 0 }, /latentSize/);
    opt({ score: 'rejection' }, /'score'/);
    opt({ realLabel: 0.3 }, /realLabel/);
    opt({ discriminatorLayers: [] }, /discriminatorLayers/);
    opt({ generatorLearningRate: -1 }, /generatorLearningRate/);
    opt({ scoreWeights: { recon: 1 } }, /Unknown key 'recon'/);
    opt({ score: 'mix', scoreWeights: { reconstruction: 0, discriminator: 0, feature: 0 } }, /above 0/);
    opt({ spectralNorm: 'yes' }, /spectralNorm/);
    opt({ onEpoch: 3 }, /onEpoch/);
    opt({ activation: 'gelu' }, /activation/);
    // The native layer re-checks what it is handed.
    const p = synDet.network;
    assert.throws(() => native.ganScore(Int32Array.from([1, 8, 8, 1, 1, 1, 0, 8, 8, 0, 8, 8, 0, 16, 1, 0]), new Float32Array(10), new Float32Array(8), 1, 0, new Float32Array(3), new Float32Array(1), null, null, 1), /discriminator needs|2\.\.64/);
    assert.ok(p);
  });
});

function withScore(det, score) {
  const { decodeModel, encodeModel } = require('../dist/io/model-file');
  const m = decodeModel(det.toBytes());
  m.meta.options = { ...m.meta.options, score };
  return encodeModel(m);
}

function pick(comps, det, score) {
  const k = { reconstruction: 0, discriminator: 1, feature: 2 }[score];
  if (k !== undefined) return Float32Array.from({ length: comps.rows }, (_, i) => comps.data[i * 3 + k]);
  const w = det.scoreWeights;
  const sc = det.componentScales;
  return Float32Array.from({ length: comps.rows }, (_, i) => (w.reconstruction * comps.data[i * 3]) / sc[0] + (w.discriminator * comps.data[i * 3 + 1]) / sc[1] + (w.feature * comps.data[i * 3 + 2]) / sc[2]);
}
