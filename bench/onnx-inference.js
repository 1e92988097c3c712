'use strict';
// ONNX Runtime inference of the default-sized autoencoder (d=21, hidden [64, 32], decoder mirrored):
// batch rows/s inline and in worker threads, event-loop delay during a large batch, and one-row
// synchronous latency. Random weights: speed does not depend on training. Usage: node bench/onnx-inference.js [rows]
const { monitorEventLoopDelay, performance } = require('perf_hooks');
const nadir = require('..');

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

const rand = rng(1);
const d = 21;
const sizes = [d, 64, 32, 64, d];
const layers = [];
for (let k = 0; k + 1 < sizes.length; k++) {
  const [i, o] = [sizes[k], sizes[k + 1]];
  layers.push({ inputs: i, outputs: o, weight: Float32Array.from({ length: i * o }, () => rand() / Math.sqrt(i)), bias: Float32Array.from({ length: o }, () => rand() * 0.1), activation: k + 2 < sizes.length ? 'relu' : 'identity' });
}
const net = { kind: 'autoencoder', mean: new Float32Array(d), std: new Float32Array(d).fill(1), layers };
const bytes = nadir.networkToOnnx(net);
const N = Number(process.argv[2] || 500000);
const X = Float32Array.from({ length: N * d }, () => rand() * 4);

async function measure(label, opts) {
  const s = await nadir.OnnxSession.create(bytes, { executionProvider: 'cpu', threads: 1, logger: () => {}, ...opts });
  await s.run('input', X, N, d, ['score']); // warm-up (and worker start)
  const h = monitorEventLoopDelay({ resolution: 1 });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  h.enable();
  const t0 = performance.now();
  const reps = 3;
  for (let r = 0; r < reps; r++) await s.run('input', X, N, d, ['score']);
  const ms = (performance.now() - t0) / reps;
  h.disable();
  clearInterval(timer);
  console.log(`${label.padEnd(44)} ${(N / ms * 1000 / 1e6).toFixed(2)} M rows/s   loop delay max ${(h.max / 1e6).toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms   ticks ${ticks}/${Math.round(ms * reps)} ms`);
  return s;
}

(async () => {
  console.log(`ONNX Runtime ${require('onnxruntime-node').env.versions.common}, ${N} rows x ${d}, threads 1`);
  for (const batchSize of [1024, 8192, 65536]) await (await measure(`inline, batchSize ${batchSize}`, { workers: 0, batchSize })).close();
  await (await measure('inline, one call for the whole batch', { workers: 0, batchSize: N })).close();
  await (await measure('1 worker thread, batchSize 8192', { workers: 1, batchSize: 8192, workerThreshold: 1 })).close();
  await (await measure('1 worker thread, batchSize 65536', { workers: 1, batchSize: 65536, workerThreshold: 1 })).close();
  await (await measure('2 worker threads (threads 2), batchSize 8192', { workers: 2, threads: 2, batchSize: 8192, workerThreshold: 1 })).close();

  const s = await nadir.OnnxSession.create(bytes, { executionProvider: 'cpu', threads: 1, logger: () => {} });
  const row = X.subarray(0, d);
  for (let i = 0; i < 2000; i++) s.runSync('input', row, 1, d, ['score']);
  const times = new Float64Array(20000);
  for (let i = 0; i < times.length; i++) {
    const t = process.hrtime.bigint();
    s.runSync('input', row, 1, d, ['score']);
    times[i] = Number(process.hrtime.bigint() - t) / 1000;
  }
  times.sort();
  console.log(`one row, synchronous session: p50 ${times[10000].toFixed(1)} us, p99 ${times[19800].toFixed(1)} us`);
  await s.close();
})();
