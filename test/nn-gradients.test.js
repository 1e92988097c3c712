'use strict';
const assert = require('assert');
const nadir = require('..');
const { native } = require('../dist/binding');
const { rng, atEachLevel, synthetic } = require('./helpers');

const ACT = { identity: 0, relu: 1, tanh: 2, sigmoid: 3 };

// layers: [inputs, outputs, activation, norm, dropoutAfter]
function plan(kind, d, layers, nEncoder = 0) {
  return Int32Array.from([1, kind === 'vae' ? 1 : 0, d, layers.length, nEncoder, ...layers.flat()]);
}

// Parameter blob with smooth pseudo-random values; returns the blob and the indices that are
// trainable parameters (weights, biases, gamma, beta; not mean/std/beta/epsilon).
function blob(d, layers, Ctor, beta = 0.7) {
  const rand = rng(11);
  let size = 2 * d + 1;
  const params = [];
  const fixed = new Map([[2 * d, beta]]);
  for (const [i, o, , norm] of layers) {
    for (let k = 0; k < i * o + o; k++) params.push(size + k);
    size += i * o + o;
    if (norm) {
      for (let k = 0; k < 2 * o; k++) params.push(size + k);
      size += 2 * o;
      fixed.set(size, 1e-5);
      size += 1;
    }
  }
  const P = new Ctor(size);
  for (const k of params) P[k] = (rand() * 2 - 1) * 0.8;
  for (const [k, v] of fixed) P[k] = v;
  return { P, params };
}

function data(rows, d, Ctor) {
  const rand = rng(5);
  return Ctor.from({ length: rows * d }, () => (rand() * 2 - 1) * 1.5);
}

// Central finite differences in double against the analytic gradient.
function gradCheck(kind, d, layers, nEncoder, { train = false, dropout = 0, rows = 6 } = {}) {
  const p = plan(kind, d, layers, nEncoder);
  const { P, params } = blob(d, layers, Float64Array);
  const Z = data(rows, d, Float64Array);
  const { loss, grad } = native.nnLossGrad(p, P, Z, rows, train, dropout, 3);
  assert.ok(Number.isFinite(loss) && loss > 0);
  let worst = 0;
  const h = 1e-6;
  for (const k of params) {
    const v = P[k];
    P[k] = v + h;
    const up = native.nnLossGrad(p, P, Z, rows, train, dropout, 3).loss;
    P[k] = v - h;
    const down = native.nnLossGrad(p, P, Z, rows, train, dropout, 3).loss;
    P[k] = v;
    const fd = (up - down) / (2 * h);
    const err = Math.abs(fd - grad[k]) / Math.max(1e-6, Math.abs(fd) + Math.abs(grad[k]));
    worst = Math.max(worst, err);
  }
  assert.ok(worst < 1e-5, `worst relative gradient error ${worst}`);
  // The float path (SIMD GEMM) gives the same gradient to float precision.
  const f = native.nnLossGrad(p, Float32Array.from(P), Float32Array.from(Z), rows, train, dropout, 3);
  let scale = 0;
  let diff = 0;
  for (const k of params) {
    scale = Math.max(scale, Math.abs(grad[k]));
    diff = Math.max(diff, Math.abs(f.grad[k] - grad[k]));
  }
  assert.ok(diff <= 1e-4 * scale + 1e-6, `float gradient differs by ${diff} (scale ${scale})`);
  assert.ok(Math.abs(f.loss - loss) <= 1e-5 * loss);
}

describe('dense network gradients (finite differences)', () => {
  for (const act of ['identity', 'relu', 'tanh', 'sigmoid']) {
    it(`dense layer with ${act} + MSE`, () => {
      gradCheck('autoencoder', 5, [[5, 7, ACT[act], 0, 0], [7, 3, ACT[act], 0, 0], [3, 5, 0, 0, 0]], 0);
    });
  }

  it('layer normalization', () => {
    gradCheck('autoencoder', 4, [[4, 6, ACT.tanh, 1, 0], [6, 3, ACT.sigmoid, 1, 0], [3, 4, 0, 0, 0]], 0);
  });

  it('dropout with a fixed mask (same seed, same mask)', () => {
    gradCheck('autoencoder', 4, [[4, 9, ACT.tanh, 0, 1], [9, 5, ACT.relu, 1, 1], [5, 4, 0, 0, 0]], 0, { train: true, dropout: 0.3 });
    // The mask really drops units: training-mode loss differs from evaluation mode.
    const p = plan('autoencoder', 4, [[4, 9, ACT.tanh, 0, 1], [9, 4, 0, 0, 0]]);
    const { P } = blob(4, [[4, 9, ACT.tanh, 0, 1], [9, 4, 0, 0, 0]], Float64Array);
    const Z = data(6, 4, Float64Array);
    const a = native.nnLossGrad(p, P, Z, 6, true, 0.5, 1).loss;
    const b = native.nnLossGrad(p, P, Z, 6, false, 0.5, 1).loss;
    const c = native.nnLossGrad(p, P, Z, 6, true, 0.5, 2).loss;
    assert.notStrictEqual(a, b);
    assert.notStrictEqual(a, c);
    assert.strictEqual(a, native.nnLossGrad(p, P, Z, 6, true, 0.5, 1).loss);
  });

  it('VAE: KL term and reparameterization (sampled latent)', () => {
    const layers = [[5, 6, ACT.tanh, 0, 0], [6, 3, 0, 0, 0], [6, 3, 0, 0, 0], [3, 6, ACT.relu, 0, 0], [6, 5, 0, 0, 0]];
    gradCheck('vae', 5, layers, 1, { train: true });
    gradCheck('vae', 5, layers, 1, { train: false });
  });

  it('VAE with layer norm, dropout and no encoder hidden layer', () => {
    gradCheck('vae', 4, [[4, 5, ACT.sigmoid, 1, 1], [5, 2, 0, 0, 0], [5, 2, 0, 0, 0], [2, 5, ACT.tanh, 1, 1], [5, 4, 0, 0, 0]], 1, { train: true, dropout: 0.25 });
    gradCheck('vae', 3, [[3, 2, 0, 0, 0], [3, 2, 0, 0, 0], [2, 3, 0, 0, 0]], 0, { train: true });
  });

  it('rejects inconsistent plans with a clear error', () => {
    const P = new Float64Array(100);
    const Z = new Float64Array(4);
    assert.throws(() => native.nnLossGrad(plan('autoencoder', 4, [[4, 3, 1, 0, 0], [2, 4, 0, 0, 0]]), P, Z, 1, false, 0, 1), /layer 1 takes 2 inputs but receives 3/);
    assert.throws(() => native.nnLossGrad(plan('autoencoder', 4, [[4, 3, 9, 0, 0], [3, 4, 0, 0, 0]]), P, Z, 1, false, 0, 1), /activation/);
    assert.throws(() => native.nnLossGrad(plan('autoencoder', 4, [[4, 4, 0, 0, 0]]), P, Z, 1, false, 0, 1), /Expected 29 elements in params/);
  });
});

describe('blocked GEMM', () => {
  const shapes = [
    [1, 1, 1], [3, 5, 7], [4, 16, 21], [5, 21, 64], [32, 64, 21], [33, 32, 64], [7, 65, 3], [64, 130, 17], [2, 200, 0],
  ];
  for (const [M, N, K] of shapes) {
    it(`matches the scalar reference at every SIMD level (M=${M} N=${N} K=${K}, plain and transposed A, bias, accumulate)`, async () => {
      const rand = rng(M * 1000 + N * 10 + K);
      const A = Float32Array.from({ length: Math.max(1, M * K) }, () => rand() * 2 - 1);
      const B = Float32Array.from({ length: Math.max(1, K * N) }, () => rand() * 2 - 1);
      const bias = Float32Array.from({ length: N }, () => rand());
      const C0 = Float32Array.from({ length: M * N }, () => rand());
      const cases = [
        { ars: K, acs: 1, acc: false, bias: null },
        { ars: 1, acs: M, acc: false, bias },
        { ars: K, acs: 1, acc: true, bias: null },
      ];
      for (const c of cases) {
        const runs = await atEachLevel(() => {
          const C = Float32Array.from(C0);
          native.nnGemm(M, N, K, A, c.ars, c.acs, B, N, C, N, c.acc, c.bias);
          return C;
        });
        // Exact reference in double.
        const ref = new Float64Array(M * N);
        for (let m = 0; m < M; m++)
          for (let n = 0; n < N; n++) {
            let s = c.acc ? C0[m * N + n] : c.bias ? c.bias[n] : 0;
            for (let k = 0; k < K; k++) s += A[m * c.ars + k * c.acs] * B[k * N + n];
            ref[m * N + n] = s;
          }
        for (const r of runs)
          for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(r.result[i] - ref[i]) <= 1e-5 * (K + 1), `${r.level} [${i}] ${r.result[i]} vs ${ref[i]}`);
      }
    });
  }

  it('checks buffer lengths instead of reading past them', () => {
    const A = new Float32Array(6);
    const B = new Float32Array(6);
    const C = new Float32Array(4);
    assert.throws(() => native.nnGemm(2, 2, 4, A, 4, 1, B, 2, C, 2, false, null), /A is too short/);
    assert.throws(() => native.nnGemm(2, 3, 2, A, 2, 1, B, 3, C, 3, false, null), /C is too short/);
  });
});

describe('native training', () => {
  const { X } = synthetic({ rows: 600, cols: 8, seed: 4 });
  const small = { epochs: 8, batchSize: 32, patience: 0, threads: 1 };

  it('reduces the loss', async () => {
    const ae = new nadir.AutoEncoder({ ...small, epochs: 15, seed: 1, dropout: 0 });
    await ae.fit(X);
    const h = ae.history;
    assert.strictEqual(h.loss.length, 15);
    assert.ok(h.loss[14] < 0.5 * h.loss[0], `loss ${h.loss[0]} -> ${h.loss[14]}`);
    assert.ok(h.valLoss[14] < h.valLoss[0]);
  });

  it('gradient clipping and weight decay change training as expected', async () => {
    const base = { ...small, epochs: 5, seed: 2, dropout: 0 };
    const plain = new nadir.AutoEncoder(base);
    const clipped = new nadir.AutoEncoder({ ...base, clipNorm: 1e-4 });
    const decayed = new nadir.AutoEncoder({ ...base, weightDecay: 0.5 });
    await Promise.all([plain.fit(X), clipped.fit(X), decayed.fit(X)]);
    // Adam normalizes step sizes, so clipping shows as a different (still finite) trajectory.
    assert.notDeepStrictEqual(clipped.network.layers[0].weight, plain.network.layers[0].weight);
    assert.ok(clipped.history.loss.every(Number.isFinite));
    const norm = (d) => d.network.layers.reduce((s, l) => s + l.weight.reduce((a, w) => a + w * w, 0), 0);
    assert.ok(norm(decayed) < norm(plain), `${norm(decayed)} vs ${norm(plain)}`);
    // Biases are not decayed.
    assert.ok(decayed.network.layers[3].bias.some((b) => b !== 0));
  });

  it('early stopping restores the best epoch', async () => {
    const ae = new nadir.AutoEncoder({ ...small, epochs: 300, patience: 3, seed: 1, learningRate: 0.05 });
    await ae.fit(X);
    const h = ae.history;
    assert.ok(h.stoppedEarly && h.loss.length < 300);
    assert.strictEqual(h.bestEpoch, h.loss.length - 3);
    const best = Math.min(...h.valLoss);
    assert.strictEqual(h.valLoss[h.bestEpoch - 1], best);
  });

  for (const threads of [1, 2]) {
    it(`a fixed seed gives bit-identical weights (threads=${threads}, batch 256)`, async () => {
      const opts = { ...small, batchSize: 256, threads, normalization: 'layer' };
      const a = new nadir.AutoEncoder({ ...opts, seed: 7 });
      const b = new nadir.AutoEncoder({ ...opts, seed: 7 });
      const c = new nadir.AutoEncoder({ ...opts, seed: 8 });
      await Promise.all([a.fit(X), b.fit(X), c.fit(X)]);
      a.network.layers.forEach((l, i) => {
        assert.deepStrictEqual(l.weight, b.network.layers[i].weight);
        if (l.norm) assert.deepStrictEqual(l.norm.gamma, b.network.layers[i].norm.gamma);
      });
      assert.notDeepStrictEqual(a.network.layers[0].weight, c.network.layers[0].weight);
      const v1 = new nadir.VariationalAutoEncoder({ ...opts, seed: 7 });
      const v2 = new nadir.VariationalAutoEncoder({ ...opts, seed: 7 });
      await v1.fit(X);
      await v2.fit(X);
      assert.deepStrictEqual(v1.network.mu.weight, v2.network.mu.weight);
      assert.deepStrictEqual(await v1.score(X), await v2.score(X));
    });
  }

  it('training and scoring agree across SIMD levels (within float tolerance)', async () => {
    const runs = await atEachLevel(async () => {
      const ae = new nadir.AutoEncoder({ ...small, epochs: 2, seed: 3 });
      await ae.fit(X);
      return { w: ae.network.layers[1].weight, s: await ae.score(X) };
    });
    for (const r of runs) {
      for (let i = 0; i < r.result.w.length; i++) assert.ok(Math.abs(r.result.w[i] - runs[0].result.w[i]) < 1e-3, `${r.level} weight ${i}`);
      for (let i = 0; i < r.result.s.length; i++) assert.ok(Math.abs(r.result.s[i] - runs[0].result.s[i]) <= 1e-3 * (1 + Math.abs(runs[0].result.s[i])), `${r.level} score ${i}`);
    }
  });

  it('calls onEpoch with epoch, loss, valLoss and seconds, in order, before fit resolves', async () => {
    const seen = [];
    const ae = new nadir.AutoEncoder({ ...small, epochs: 4, seed: 1, onEpoch: (e) => seen.push(e) });
    await ae.fit(X);
    assert.deepStrictEqual(seen.map((e) => e.epoch), [1, 2, 3, 4]);
    for (const e of seen) {
      assert.ok(e.loss > 0 && e.valLoss > 0 && e.seconds >= 0);
    }
    assert.strictEqual(Math.fround(seen[3].loss), ae.history.loss[3]);
    // Per-call hooks override the constructor's.
    const other = [];
    await ae.fit(X, { onEpoch: (e) => other.push(e.epoch) });
    assert.deepStrictEqual(other, [1, 2, 3, 4]);
    assert.strictEqual(seen.length, 4);
  });

  it('an error thrown by onEpoch stops training and rejects fit with it', async () => {
    const ae = new nadir.AutoEncoder({ ...small, epochs: 50, seed: 1, onEpoch: (e) => { if (e.epoch === 2) throw new Error('stop here'); } });
    await assert.rejects(ae.fit(X), /stop here/);
    assert.strictEqual(ae.fitted, false);
  });

  it('AbortSignal cancels training: the promise rejects with an AbortError, no crash', async () => {
    const ctl = new AbortController();
    let epochs = 0;
    const ae = new nadir.AutoEncoder({ ...small, epochs: 10000, seed: 1, signal: ctl.signal, onEpoch: () => { if (++epochs === 2) ctl.abort(); } });
    await assert.rejects(ae.fit(X), (e) => e instanceof nadir.AbortError && e.name === 'AbortError' && /cancelled by its AbortSignal/.test(e.message));
    assert.ok(epochs >= 2 && epochs < 10);
    assert.strictEqual(ae.fitted, false);
    // Already aborted: rejects at once; a timer-driven abort also works.
    await assert.rejects(new nadir.AutoEncoder({ ...small, seed: 1 }).fit(X, { signal: AbortSignal.abort() }), nadir.AbortError);
    const v = new nadir.VariationalAutoEncoder({ ...small, epochs: 100000, seed: 1 });
    const t = new AbortController();
    setTimeout(() => t.abort(), 50);
    await assert.rejects(v.fit(X, { signal: t.signal }), nadir.AbortError);
    // The detector still trains normally afterwards.
    const again = new nadir.VariationalAutoEncoder({ ...small, seed: 1 });
    await again.fit(X.sliceRows(0, 100), { signal: new AbortController().signal });
    assert.ok(again.fitted);
  });
});

describe('training and the end of its JavaScript environment', () => {
  const { execFileSync } = require('child_process');
  const root = require('path').join(__dirname, '..');
  const run = (script) => execFileSync(process.execPath, ['-e', script], { cwd: root, timeout: 20000 }).toString();
  const setup = `const nadir = require('.'); const rows = []; for (let i = 0; i < 300; i++) rows.push([Math.sin(i), Math.cos(i), i % 5]);`;

  it('process.exit() during training exits at once (no hang)', () => {
    const out = run(`${setup} new nadir.AutoEncoder({ seed: 1, epochs: 1e6, patience: 0, threads: 1 }).fit(rows); setTimeout(() => { console.log('bye'); process.exit(0); }, 100);`);
    assert.strictEqual(out.trim(), 'bye');
  });

  it('terminating a worker_thread during training neither hangs nor crashes', () => {
    const out = run(`
      const { Worker } = require('worker_threads');
      (async () => {
        for (const hook of ['', ', onEpoch: () => {}']) {
          const w = new Worker(\`${setup.replace(/'\.'/, "'" + root.replace(/\\/g, '/') + "'")} const { parentPort } = require('worker_threads');
            new nadir.AutoEncoder({ seed: 1, epochs: 1e6, patience: 0, threads: 1 \${hook} }).fit(rows); parentPort.postMessage('go');\`, { eval: true });
          await new Promise((r) => w.once('message', r));
          await new Promise((r) => setTimeout(r, 50));
          await w.terminate();
        }
        console.log('done');
      })();`);
    assert.strictEqual(out.trim(), 'done');
  });
});
