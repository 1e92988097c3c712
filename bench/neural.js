#!/usr/bin/env node
'use strict';
// Neural benchmark suite (issue 3): `node bench/neural.js [--quick] [--epochs=N] [--seeds=N]`.
//   (a) training samples/s and seconds to a given loss, default AutoEncoder, batch 32 and 256, vs PyTorch
//   (b) inference rows/s per engine (native Job, ONNX Runtime inline, ONNX Runtime in worker threads)
//       and single-row p50/p99 (native scoreSync, ONNX Runtime runSync, PyTorch one-row forward)
//   (c) event-loop delay while a large batch is scored
//   (d) ROC-AUC of nadir's AutoEncoder vs the PyTorch one on the same split
//   (e) classical vs neural: fit seconds, batch rows/s, single-row p50, ROC-AUC per detector and dataset
// Everything runs on one thread (threads: 1; PyTorch with OMP_NUM_THREADS=1). PyTorch runs through
// /usr/bin/python3 when it has torch (skipped otherwise). Datasets: $NADIR_DATA or ../shared/data
// (cardio falls back to the shipped copy; the others are skipped when absent). A full run writes
// bench/results/neural.json. Speed is printed, never asserted.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync, spawn } = require('child_process');
const readline = require('readline');
const { monitorEventLoopDelay } = require('perf_hooks');
const nadir = require('..');
const { decodeModel, encodeModel } = require('../dist/io/model-file');
const { dataDir, repoRoot, splitIndices } = require('./lib/data');
const { printTable } = require('./lib/table');
const { now, seconds: secondsSince, median, latency: timeCalls } = require('./lib/timing');

const PY = '/usr/bin/python3';
const BATCHES = [32, 256];
const TARGETS = {
  train: { 32: 10, 256: 2 }, // nadir / PyTorch training samples/s at equal threads
  aucDiff: 0.01, // |AUC nadir - AUC PyTorch|
  ortVsTorchRows: 1, // ORT batch rows/s / PyTorch rows/s
  nativeP50Us: 5, // native single-row p50
};

function config(quick, argv = []) {
  const arg = (name) => {
    const a = argv.find((x) => x.startsWith(`--${name}=`));
    return a === undefined ? undefined : Number(a.slice(name.length + 3));
  };
  const cfg = quick
    ? { quick, epochs: 5, seeds: [1, 2], inferRows: 50000, inferReps: 3, inferMinS: 0.2, latencyCalls: 5000, tableEpochs: 10, tableLatencyCalls: 2000, minScoreS: 0.2 }
    : { quick, epochs: 20, seeds: Array.from({ length: 200 }, (_, i) => i + 1), inferRows: 200000, inferReps: 7, inferMinS: 0.5, latencyCalls: 20000, tableEpochs: 100, tableLatencyCalls: 10000, minScoreS: 0.5 };
  if (arg('epochs') > 0) cfg.epochs = arg('epochs');
  if (arg('seeds') > 0) cfg.seeds = Array.from({ length: arg('seeds') }, (_, i) => i + 1);
  return cfg;
}

// ------------------------------------------------------------------ helpers

function datasetFile(name) {
  const f = path.join(dataDir(), `${name}.csv`);
  if (fs.existsSync(f)) return f;
  const shippedFile = path.join(repoRoot, 'test', 'fixtures', `${name}.csv`);
  return fs.existsSync(shippedFile) ? shippedFile : null;
}

function load(name, seed = 42) {
  const file = datasetFile(name);
  if (!file) return null;
  const { X, labels } = nadir.readCsv(file, { label: 'label' });
  const { train, test } = splitIndices(X.rows, 0.6, seed);
  return { name, file, X, Xtr: X.selectRows(train), Xte: X.selectRows(test), yte: Uint8Array.from(test, (i) => (labels[i] > 0 ? 1 : 0)), train, test };
}

const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;

/** p50 and p99 in microseconds of a synchronous call. */
function latency(fn, calls) {
  const r = timeCalls(fn, calls, Math.min(2000, calls));
  return { p50: r.p50Us, p99: r.p99Us };
}

/** Rows/s of an async batch call: median over reps, each rep at least minS seconds of calls. */
async function rowsPerSecond(fn, rows, reps, minS) {
  await fn();
  const rates = [];
  for (let r = 0; r < reps; r++) {
    let calls = 0;
    const t0 = now();
    do {
      await fn();
      calls++;
    } while (secondsSince(t0) < minS);
    rates.push((rows * calls) / secondsSince(t0));
  }
  return median(rates);
}

/** A copy of a fitted detector with some options changed (through its model file). */
function variant(det, options) {
  const content = decodeModel(det.toBytes(), 'bytes');
  content.meta.options = { ...content.meta.options, ...options };
  return nadir.detectorFromBytes(encodeModel(content));
}

/** Rows of Xte repeated to n rows. */
function tile(X, n) {
  const data = new Float32Array(n * X.cols);
  for (let off = 0; off < data.length; off += X.data.length) data.set(X.data.subarray(0, Math.min(X.data.length, data.length - off)), off);
  return new nadir.Matrix(data, n, X.cols);
}

const f = (v, d = 0) => (v === undefined || v === null || Number.isNaN(v) ? 'n/a' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const verdict = (ok) => (ok === null ? '' : ok ? 'OK' : 'MISSED');

function torchAvailable() {
  if (!fs.existsSync(PY)) return false;
  try {
    execFileSync(PY, ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the PyTorch peer: resolves with its results once it has trained and measured, and keeps it
 * serving batch-inference measurements (`batch(minS)` -> rows/s) until `close()`.
 */
function startTorch(cfgObj, timeoutS) {
  const cfgFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nadir-bench-')), 'cfg.json');
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfgObj, serve: true }));
  const child = spawn(PY, [path.join(__dirname, 'neural-torch.py'), cfgFile], {
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += b));
  const lines = [];
  const waiting = [];
  let ended = false;
  readline.createInterface({ input: child.stdout }).on('line', (l) => (waiting.length ? waiting.shift().resolve(l) : lines.push(l)));
  child.on('close', (code) => {
    ended = true;
    for (const w of waiting.splice(0)) w.reject(new Error(`PyTorch peer exited (code ${code}): ${stderr.trim().split('\n').pop()}`));
  });
  const timer = setTimeout(() => child.kill(), timeoutS * 1000);
  const next = () => (lines.length ? Promise.resolve(lines.shift()) : ended ? Promise.reject(new Error(`PyTorch peer exited: ${stderr.trim().split('\n').pop()}`)) : new Promise((resolve, reject) => waiting.push({ resolve, reject })));
  return next().then((first) => ({
    ...JSON.parse(first),
    async batch(minS) {
      child.stdin.write(`batch ${minS}\n`);
      return Number(await next());
    },
    close() {
      clearTimeout(timer);
      child.stdin.end('quit\n');
    },
  }));
}

/** Seconds into training at which the epoch loss first reached `target` (NaN if never). */
function secondsToLoss(loss, at, target) {
  for (let e = 0; e < loss.length; e++) if (loss[e] <= target) return at[e];
  return NaN;
}

// ------------------------------------------------------------------ (a) + (d): training vs PyTorch

async function training(cfg, ds, torch) {
  const { Xtr, Xte, yte } = ds;
  await new nadir.AutoEncoder({ seed: 1, threads: 1, epochs: 2, executionProvider: 'cpu' }).fit(Xtr); // warm-up
  const nadirRuns = {};
  let kept;
  for (const bs of BATCHES) {
    nadirRuns[bs] = [];
    for (const seed of cfg.seeds) {
      const loss = [];
      const at = [];
      let inside = 0;
      const ae = new nadir.AutoEncoder({
        seed, threads: 1, epochs: cfg.epochs, batchSize: bs, patience: 0, validationSplit: 0, executionProvider: 'cpu',
        onEpoch: (e) => { inside += e.seconds; loss.push(e.loss); at.push(inside); },
      });
      const t0 = now();
      await ae.fit(Xtr);
      const wall = secondsSince(t0);
      const auc = nadir.rocAuc(await ae.score(Xte), yte);
      nadirRuns[bs].push({ samplesPerSec: (Xtr.rows * cfg.epochs) / inside, wallSamplesPerSec: (Xtr.rows * cfg.epochs) / wall, seconds: inside, auc, loss, at });
      if (!kept) kept = ae;
      else await ae.close();
    }
  }
  const out = { dataset: ds.name, trainRows: Xtr.rows, testRows: Xte.rows, features: Xtr.cols, epochs: cfg.epochs, seeds: cfg.seeds, batches: {} };
  const titleA = `(a) AutoEncoder training on ${ds.name} (${Xtr.rows} x ${Xtr.cols} train, 60% seeded split), ${cfg.epochs} epochs, ${cfg.seeds.length} seed(s), 1 thread; samples/s over the time inside epochs`;
  const rows = [];
  for (const bs of BATCHES) {
    const n = nadirRuns[bs];
    const t = torch?.results[String(bs)];
    const ns = mean(n.map((r) => r.samplesPerSec));
    const ts = t ? mean(t.map((r) => r.samplesPerSec)) : NaN;
    // The loss to reach: 5% above the higher of the two mean final epoch losses, so nearly every
    // run gets there; seconds = median over the runs that did (how many did is reported).
    const nFinal = mean(n.map((r) => r.loss[r.loss.length - 1]));
    const tFinal = t ? mean(t.map((r) => r.loss[r.loss.length - 1])) : NaN;
    const target = 1.05 * (t ? Math.max(nFinal, tFinal) : nFinal);
    const reach = (runs) => {
      const secs = runs.map((r) => secondsToLoss(r.loss, r.at, target)).filter((v) => !Number.isNaN(v));
      return { seconds: secs.length ? median(secs) : NaN, reached: secs.length, runs: runs.length };
    };
    const nReach = reach(n);
    const tReach = t ? reach(t) : null;
    const nTo = nReach.seconds;
    const tTo = t ? tReach.seconds : NaN;
    const ratio = ns / ts;
    out.batches[bs] = {
      nadir: { samplesPerSec: ns, wallSamplesPerSec: mean(n.map((r) => r.wallSamplesPerSec)), finalLoss: nFinal, secondsToLoss: nTo, reachedLoss: nReach.reached, auc: mean(n.map((r) => r.auc)), aucs: n.map((r) => r.auc) },
      torch: t ? { samplesPerSec: ts, finalLoss: tFinal, secondsToLoss: tTo, reachedLoss: tReach.reached, auc: mean(t.map((r) => r.auc)), aucs: t.map((r) => r.auc) } : null,
      targetLoss: target,
      ratio: t ? ratio : null,
      target: TARGETS.train[bs],
      met: t ? ratio >= TARGETS.train[bs] : null,
    };
    rows.push([`batch ${bs}`, f(ns), t ? f(ts) : 'n/a', t ? `${f(ratio, 1)}x` : 'n/a', `>= ${TARGETS.train[bs]}x`, verdict(t ? ratio >= TARGETS.train[bs] : null), f(target, 4), `${f(nTo, 3)} (${nReach.reached}/${nReach.runs})`, t ? `${f(tTo, 3)} (${tReach.reached}/${tReach.runs})` : 'n/a']);
  }
  printTable(titleA, ['', 'nadir samples/s', 'PyTorch samples/s', 'ratio', 'target', '', 'loss to reach', 'nadir s (runs)', 'PyTorch s (runs)'], rows);
  console.log('  (loss = mean squared error per value over an epoch, with dropout, as onEpoch reports it; seconds = median time into training at which a run first reached it)');

  const arows = [];
  for (const bs of BATCHES) {
    const b = out.batches[bs];
    const diff = b.torch ? b.nadir.auc - b.torch.auc : NaN;
    // Standard error of the difference of the two means (seeds are independent runs).
    const se = (a) => Math.sqrt(a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / Math.max(1, a.length - 1) / a.length);
    const diffSe = b.torch ? Math.hypot(se(b.nadir.aucs), se(b.torch.aucs)) : NaN;
    b.aucDiff = b.torch ? diff : null;
    b.aucDiffSe = b.torch ? diffSe : null;
    arows.push([`batch ${bs}`, f(b.nadir.auc, 4), b.torch ? f(b.torch.auc, 4) : 'n/a', b.torch ? `${f(diff, 4)} +- ${f(diffSe, 4)}` : 'n/a', `|diff| <= ${TARGETS.aucDiff}`, verdict(b.torch ? Math.abs(diff) <= TARGETS.aucDiff : null)]);
  }
  printTable(`(d) ROC-AUC on the held-out 40% of ${ds.name} (mean over ${cfg.seeds.length} seeds; same split, architecture and epochs)`, ['', 'nadir AUC', 'PyTorch AUC', 'diff +- std error', 'target', ''], arows);
  return { out, model: kept };
}

// ------------------------------------------------------------------ (b) + (c): inference engines

async function inference(cfg, ds, model, torch) {
  const N = cfg.inferRows;
  const X = tile(ds.Xte, N);
  const d = X.cols;
  // Default engine settings first (inferenceBatchSize 8192); the rest show what chunking and workers buy.
  const INLINE = 'ONNX Runtime inline (main thread), chunks of 8192';
  const WORKER = 'ONNX Runtime, 1 worker thread, chunks of 8192';
  const engines = [
    ['native (Job on the libuv pool)', { engine: 'native' }],
    [INLINE, { engine: 'onnx', workers: 0 }],
    [WORKER, { engine: 'onnx', workers: 1, workerThreshold: 1 }],
    ['ONNX Runtime inline, chunks of 1024', { engine: 'onnx', workers: 0, inferenceBatchSize: 1024 }],
    ['ONNX Runtime inline, one call for the batch', { engine: 'onnx', workers: 0, inferenceBatchSize: N }],
    ['ONNX Runtime, 1 worker, one call for the batch', { engine: 'onnx', workers: 1, workerThreshold: 1, inferenceBatchSize: N }],
    ['ONNX Runtime, 2 workers (threads 2), chunks of 8192', { engine: 'onnx', workers: 2, workerThreshold: 1, threads: 2 }],
  ];
  const res = { rows: N, features: d, engines: {}, single: {} };
  const dets = engines.map(([, opts]) => variant(model, { inferenceBatchSize: 8192, ...opts }));
  // Engines take turns rep by rep, so a busy spell on the machine does not fall on one engine only.
  const rates = engines.map(() => []);
  for (const det of dets) await det.score(X);
  const torchRates = [];
  for (let r = 0; r < cfg.inferReps; r++) {
    for (let k = 0; k < dets.length; k++) rates[k].push(await rowsPerSecond(() => dets[k].score(X), N, 1, cfg.inferMinS));
    if (torch) torchRates.push(await torch.batch(cfg.inferMinS));
  }
  for (let k = 0; k < dets.length; k++) {
    // (c) event-loop delay during one large batch
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    // Longest gap between turns of a 1 ms interval timer, counting the edges of the batch.
    let last = now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const t = now();
      maxGap = Math.max(maxGap, Number(t - last) / 1e6);
      last = t;
    }, 1);
    const t0 = now();
    await dets[k].score(X);
    const ms = secondsSince(t0) * 1000;
    maxGap = Math.max(maxGap, Number(now() - last) / 1e6);
    clearInterval(timer);
    // The histogram records a stall when the loop turns again: let it turn before reading it.
    await new Promise((r) => setTimeout(r, 20));
    h.disable();
    res.engines[engines[k][0]] = { rowsPerSec: median(rates[k]), loopDelayMaxMs: h.max / 1e6, loopDelayP99Ms: h.percentile(99) / 1e6, longestTimerGapMs: maxGap, batchMs: ms };
    await dets[k].close();
  }
  const row = ds.Xte.row(0);
  res.single.nativeScoreSync = latency(() => model.scoreSync(row), cfg.latencyCalls);
  const session = nadir.OnnxSession.open(model.toOnnx(), { executionProvider: 'cpu', threads: 1, logger: () => {} });
  res.single.ortRunSync = latency(() => session.runSync('input', row, 1, d, ['score']), cfg.latencyCalls);
  await session.close();
  if (torch) {
    // Measured in turns with nadir's engines (the PyTorch process waits while nadir runs).
    res.engines['PyTorch 1 thread (no_grad, chunks of 8192)'] = { rowsPerSec: median(torchRates) };
    res.single.torchForward = { p50: torch.inference.rowP50us, p99: torch.inference.rowP99us };
  }
  const torchRate = torch ? median(torchRates) : undefined;
  // score() on this batch takes the worker path by default (rows >= workerThreshold); smaller batches run inline.
  res.ortVsTorch = torchRate ? res.engines[INLINE].rowsPerSec / torchRate : null;
  res.ortWorkersVsTorch = torchRate ? res.engines[WORKER].rowsPerSec / torchRate : null;

  printTable(
    `(b) batch inference of the trained default AutoEncoder, ${f(N)} rows x ${d}, 1 thread; (c) event-loop delay while one batch is scored (monitorEventLoopDelay, resolution 1 ms; and the longest gap between turns of a 1 ms interval)`,
    ['engine', 'rows/s', 'vs PyTorch', 'batch ms', 'loop delay max ms', 'p99 ms', 'longest timer gap ms'],
    Object.entries(res.engines).map(([k, v]) => [k, f(v.rowsPerSec), torchRate ? `${f(v.rowsPerSec / torchRate, 2)}x` : 'n/a', v.batchMs === undefined ? '' : f(v.batchMs, 1), v.loopDelayMaxMs === undefined ? '' : f(v.loopDelayMaxMs, 1), v.loopDelayP99Ms === undefined ? '' : f(v.loopDelayP99Ms, 1), v.longestTimerGapMs === undefined ? '' : f(v.longestTimerGapMs, 1)]),
  );
  if (torchRate) {
    console.log(`  ONNX Runtime batch vs PyTorch, 1 thread each (target >= ${TARGETS.ortVsTorchRows}x):`);
    console.log(`    inline (default below workerThreshold, 16384 rows): ${f(res.ortVsTorch, 2)}x ${verdict(res.ortVsTorch >= TARGETS.ortVsTorchRows)}`);
    console.log(`    1 worker thread (default for larger batches at threads 1): ${f(res.ortWorkersVsTorch, 2)}x ${verdict(res.ortWorkersVsTorch >= TARGETS.ortVsTorchRows)}`);
  }
  const sp = res.single;
  printTable(`(b) single row (${d} features), microseconds`, ['path', 'p50 us', 'p99 us', 'target', ''], [
    ['native scoreSync', f(sp.nativeScoreSync.p50, 2), f(sp.nativeScoreSync.p99, 2), `p50 <= ${TARGETS.nativeP50Us}`, verdict(sp.nativeScoreSync.p50 <= TARGETS.nativeP50Us)],
    ['ONNX Runtime runSync', f(sp.ortRunSync.p50, 2), f(sp.ortRunSync.p99, 2), '', ''],
    ...(sp.torchForward ? [['PyTorch one-row forward', f(sp.torchForward.p50, 2), f(sp.torchForward.p99, 2), '', '']] : []),
  ]);
  return res;
}

// ------------------------------------------------------------------ (e) classical vs neural

async function classicalVsNeural(cfg) {
  const seed = 1;
  const dets = [
    ['IsolationForest', () => new nadir.IsolationForest({ seed, threads: 1 })],
    ['Mahalanobis', () => new nadir.Mahalanobis({ seed, threads: 1 })],
    ['PCA', () => new nadir.PCA({ seed, threads: 1 })],
    ...(nadir.ECOD ? [['ECOD', () => new nadir.ECOD({ seed, threads: 1 })]] : []),
    ['AutoEncoder', () => new nadir.AutoEncoder({ seed, threads: 1, epochs: cfg.tableEpochs, executionProvider: 'cpu' })],
    ['VariationalAutoEncoder', () => new nadir.VariationalAutoEncoder({ seed, threads: 1, epochs: cfg.tableEpochs, executionProvider: 'cpu' })],
  ];
  const out = {};
  console.log(`\n(e) classical vs neural: fit on a seeded 60% split, score the other 40%; 1 thread; neural epochs <= ${cfg.tableEpochs} (early stopping, patience 10); batch = async score() (ONNX Runtime for the neural ones)`);
  for (const name of ['cardio', 'shuttle', 'satellite', 'mnist']) {
    const ds = load(name, 1);
    if (!ds) {
      console.log(`  ${name}: skipped (no ${name}.csv under ${dataDir()}; set NADIR_DATA)`);
      continue;
    }
    out[name] = { rows: ds.X.rows, features: ds.X.cols, trainRows: ds.Xtr.rows, testRows: ds.Xte.rows, detectors: {} };
    const rows = [];
    for (const [label, make] of dets) {
      const det = make();
      const t0 = now();
      await det.fit(ds.Xtr);
      const fitS = secondsSince(t0);
      const scores = await det.score(ds.Xte);
      const auc = nadir.rocAuc(scores, ds.yte);
      const rate = await rowsPerSecond(() => det.score(ds.Xte), ds.Xte.rows, 3, cfg.minScoreS);
      const row = ds.Xte.row(0);
      const lat = latency(() => det.scoreSync(row), cfg.tableLatencyCalls);
      if (det.close) await det.close();
      out[name].detectors[label] = { fitS, batchRowsPerSec: rate, singleP50Us: lat.p50, singleP99Us: lat.p99, auc };
      rows.push([label, f(lat.p50, 2), f(rate), f(fitS, 3), f(auc, 4)]);
    }
    printTable(`${name}: ${ds.X.rows} x ${ds.X.cols} (${ds.Xtr.rows} train / ${ds.Xte.rows} test)`, ['detector', 'single-row p50 us', 'batch rows/s', 'fit s', 'ROC-AUC'], rows);
  }
  return out;
}

// ------------------------------------------------------------------ entry points

/** Runs the suite; returns the results object (what bench/results/neural.json holds). */
async function run({ quick = false, argv = [] } = {}) {
  const cfg = config(quick, argv);
  const started = now();
  const ds = load('cardio', 42);
  const hasTorch = torchAvailable();
  console.log(`nadir neural benchmark${quick ? ' (--quick)' : ''}: node ${process.version}, ${os.cpus()[0].model}, SIMD ${nadir.simdInfo().active}, onnxruntime-node ${require('onnxruntime-node').env.versions.common}; data ${dataDir()}`);
  let torch = null;
  if (hasTorch) {
    try {
      torch = await startTorch({ csv: ds.file, train: ds.train, test: ds.test, epochs: cfg.epochs, seeds: cfg.seeds, batches: BATCHES, hidden: [64, 32], dropout: 0.2, inferRows: cfg.inferRows, inferReps: cfg.inferReps, chunk: 8192, latencyCalls: cfg.latencyCalls }, 900);
      console.log(`PyTorch ${torch.torch} (1 thread) ran the same model, split and epochs`);
    } catch (e) {
      console.log(`PyTorch peer failed: ${String(e.message).split('\n')[0]}`);
    }
  } else console.log(`PyTorch peer skipped: ${PY} has no torch`);
  const { out: train, model } = await training(cfg, ds, torch);
  const infer = await inference(cfg, ds, model, torch);
  torch?.close();
  await model.close();
  const table_ = await classicalVsNeural(cfg);
  const seconds = secondsSince(started);
  console.log(`\nneural suite: ${f(seconds, 1)} s`);
  return {
    suite: 'neural',
    quick,
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0].model,
    simd: nadir.simdInfo().active,
    onnxruntime: require('onnxruntime-node').env.versions.common,
    torch: torch ? torch.torch : null,
    config: cfg,
    targets: TARGETS,
    training: train,
    inference: infer,
    classicalVsNeural: table_,
    seconds,
  };
}

module.exports = { run };

if (require.main === module) {
  const quick = process.argv.includes('--quick');
  run({ quick, argv: process.argv.slice(2) })
    .then((res) => {
      if (quick) return console.log('(--quick: bench/results/neural.json is written by full runs only)');
      const dir = path.join(__dirname, 'results');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'neural.json'), JSON.stringify(res, null, 2) + '\n');
      console.log(`wrote ${path.relative(process.cwd(), path.join(dir, 'neural.json'))}`);
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
