#!/usr/bin/env node
'use strict';
// nadir benchmark harness: `npm run bench [-- --quick] [suites...] [--data=a,b] [--save=name]`.
// Suites: iforest classical robust ecod pca (nadir detectors; 'mahalanobis' = classical + robust,
// 'detectors' = all five), npm (JavaScript isolation-forest peers), sklearn (Python peers), recon
// (reconstruction-error bandwidth), neural (bench/neural.js: AutoEncoder/VAE training and inference
// vs PyTorch, engines, event-loop delay, classical vs neural), and the standalone scripts hybrid
// (bench/hybrid.js), gan (bench/gan.js) and nab (bench/nab.js). Default: all. Speed is printed, never asserted.
// Everything runs on one thread. Numbers go to bench/results/latest.json (and results/<name>.json
// with --save=<name>).
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execSync, spawnSync } = require('child_process');
const nadir = require('..');
const { loadDataset, dataDir, repoRoot } = require('./lib/data');
const { printTable, fmt } = require('./lib/table');
const { timerOverheadNs } = require('./lib/timing');
const detectors = require('./suites/detectors');
const npmPeers = require('./suites/npm-peers');
const sklearn = require('./suites/sklearn');
const recon = require('./suites/recon');
const neural = require('./neural');

// Suites with their own script and results file, run as child processes after the report above.
const STANDALONE = { hybrid: 'hybrid.js', gan: 'gan.js', nab: 'nab.js' };
const ALL = ['iforest', 'classical', 'robust', 'ecod', 'pca', 'npm', 'sklearn', 'recon', 'neural', ...Object.keys(STANDALONE)];
const GROUPS = { mahalanobis: ['classical', 'robust'], detectors: ['iforest', 'classical', 'robust', 'ecod', 'pca'], peers: ['npm', 'sklearn'], all: ALL };
const DEFAULT_DATA = ['shuttle', 'cardio', 'donors'];

function parseArgs(argv) {
  const opts = { quick: false, data: DEFAULT_DATA, save: null, suites: new Set() };
  for (const a of argv) {
    if (a === '--quick') opts.quick = true;
    else if (a.startsWith('--data=')) opts.data = a.slice(7).split(',').filter(Boolean);
    else if (a.startsWith('--save=')) opts.save = a.slice(7);
    else if (a === '--help' || a === '-h') {
      console.log('usage: node bench/run.js [--quick] [--data=shuttle,cardio,donors] [--save=name] [suite ...]');
      console.log(`suites: ${ALL.join(' ')}; groups: ${Object.keys(GROUPS).join(' ')}`);
      process.exit(0);
    } else if (GROUPS[a]) GROUPS[a].forEach((s) => opts.suites.add(s));
    else if (ALL.includes(a)) opts.suites.add(a);
    else {
      console.error(`unknown suite or option '${a}' (suites: ${ALL.join(', ')}; groups: ${Object.keys(GROUPS).join(', ')})`);
      process.exit(2);
    }
  }
  if (opts.suites.size === 0) ALL.forEach((s) => opts.suites.add(s));
  return opts;
}

function config(quick) {
  return quick
    ? { quick, fitReps: 1, minReps: 2, scoreReps: 3, budgetS: 2, latencyCalls: 5000, latencyWarmup: 500, benchMaxTime: 0.25, peerRows: 5000, peerLatencyCalls: 200, reconRows: 2_000_000, reconReps: 3, pythonTimeoutS: 300 }
    : { quick, fitReps: 7, minReps: 3, scoreReps: 7, budgetS: 6, latencyCalls: 20000, latencyWarmup: 2000, benchMaxTime: 1, peerRows: 20000, peerLatencyCalls: 1000, reconRows: 2_000_000, reconReps: 7, pythonTimeoutS: 420 };
}

function gitCommit() {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Ratios of nadir against its peers, next to the targets of the foundation issue. */
function comparisons(res) {
  const rows = [];
  const add = (what, dataset, nadirV, peerV, ratio, target, unit, note) => {
    if (ratio === undefined || Number.isNaN(ratio)) return;
    rows.push({ what, dataset, nadir: nadirV, peer: peerV, ratio, target, met: target === null ? null : target.cmp === '<=' ? ratio <= target.v : ratio >= target.v, unit, note });
  };
  const at = (o, ...keys) => keys.reduce((v, k) => (v == null ? undefined : v[k]), o);
  const datasets = Object.keys(res.datasets);
  for (const ds of datasets) {
    const iforest = at(res.detectors, 'IsolationForest', ds);
    const sk = at(res.sklearn, 'datasets', ds);
    if (iforest) {
      if (sk) {
        const p = sk.sklearnIsolationForest;
        add('IsolationForest batch rows/s vs sklearn', ds, iforest.batchRowsPerS, p.batchRowsPerS, iforest.batchRowsPerS / p.batchRowsPerS, { cmp: '>=', v: 50 }, 'x');
        add('IsolationForest fit vs sklearn (time ratio)', ds, iforest.fitS, p.fitS, p.fitS / iforest.fitS, { cmp: '>=', v: 10 }, 'x');
        add('IsolationForest single-row p50 vs sklearn', ds, iforest.singleP50Us, p.singleP50Us, p.singleP50Us / iforest.singleP50Us, null, 'x');
      }
      for (const peer of ['isolation-forest', 'ml-isolation-forest']) {
        const p = at(res.npm, peer, ds);
        if (p) add(`IsolationForest batch rows/s vs ${peer} (npm)`, ds, iforest.batchRowsPerS, p.batchRowsPerS, iforest.batchRowsPerS / p.batchRowsPerS, { cmp: '>=', v: 100 }, 'x', p.subsampled ? `peer on ${p.rows} rows` : '');
        if (p) add(`IsolationForest single-row p50 vs ${peer} (npm)`, ds, iforest.singleP50Us, p.singleP50Us, p.singleP50Us / iforest.singleP50Us, null, 'x');
      }
      add('IsolationForest single-row p50 (µs)', ds, iforest.singleP50Us, null, iforest.singleP50Us, { cmp: '<=', v: 5 }, 'µs');
    }
    for (const name of ['Mahalanobis classical', 'Mahalanobis robust']) {
      const m = at(res.detectors, name, ds);
      const p = at(sk, 'numpyMahalanobis');
      if (m && p) add(`${name} scoring rows/s vs numpy`, ds, m.batchRowsPerS, p.batchRowsPerS, m.batchRowsPerS / p.batchRowsPerS, { cmp: '>=', v: 10 }, 'x');
    }
    const e = at(res.detectors, 'ECOD', ds);
    if (e && at(sk, 'numpyECOD')) add('ECOD scoring rows/s vs numpy searchsorted', ds, e.batchRowsPerS, sk.numpyECOD.batchRowsPerS, e.batchRowsPerS / sk.numpyECOD.batchRowsPerS, null, 'x');
    const pca = at(res.detectors, 'PCA', ds);
    if (pca && at(sk, 'sklearnPCAReconstruction')) add('PCA scoring rows/s vs sklearn PCA recon. error', ds, pca.batchRowsPerS, sk.sklearnPCAReconstruction.batchRowsPerS, pca.batchRowsPerS / sk.sklearnPCAReconstruction.batchRowsPerS, null, 'x');
  }
  const nn = res.neural;
  if (nn) {
    const tr = nn.training;
    for (const bs of Object.keys(tr.batches)) {
      const b = tr.batches[bs];
      if (b.torch) add(`AutoEncoder training samples/s vs PyTorch, batch ${bs}`, tr.dataset, b.nadir.samplesPerSec, b.torch.samplesPerSec, b.ratio, { cmp: '>=', v: b.target }, 'x', `${tr.epochs} epochs, ${tr.seeds.length} seeds`);
      if (b.torch) add(`AutoEncoder |ROC-AUC - PyTorch's|, batch ${bs}`, tr.dataset, b.nadir.auc, b.torch.auc, Math.abs(b.aucDiff), { cmp: '<=', v: nn.targets.aucDiff }, '', `diff ${fmt(b.aucDiff)} +- ${fmt(b.aucDiffSe)} std error, ${tr.seeds.length} seeds`);
    }
    const torchRows = nn.inference.engines['PyTorch 1 thread (no_grad, chunks of 8192)'];
    if (torchRows) {
      add('ONNX Runtime batch rows/s vs PyTorch (AutoEncoder), inline', tr.dataset, torchRows.rowsPerSec * nn.inference.ortVsTorch, torchRows.rowsPerSec, nn.inference.ortVsTorch, { cmp: '>=', v: nn.targets.ortVsTorchRows }, 'x', `${nn.inference.rows} rows`);
      add('ONNX Runtime batch rows/s vs PyTorch (AutoEncoder), 1 worker', tr.dataset, torchRows.rowsPerSec * nn.inference.ortWorkersVsTorch, torchRows.rowsPerSec, nn.inference.ortWorkersVsTorch, { cmp: '>=', v: nn.targets.ortVsTorchRows }, 'x', 'the default path for batches >= 16384 rows');
    }
    const p50 = nn.inference.single.nativeScoreSync.p50;
    add('AutoEncoder native scoreSync single-row p50 (µs)', tr.dataset, p50, null, p50, { cmp: '<=', v: nn.targets.nativeP50Us }, 'µs');
  }
  if (res.recon) {
    add('reconError kernel GB/s vs native sum GB/s', `${res.recon.rows}x${res.recon.cols}`, res.recon.kernelGBps, res.recon.sumGBps, res.recon.kernelVsSum, { cmp: '>=', v: 0.7 }, '');
    add('reconstructionError() API GB/s vs native sum', `${res.recon.rows}x${res.recon.cols}`, res.recon.apiGBps, res.recon.sumGBps, res.recon.apiVsSum, { cmp: '>=', v: 0.7 }, '', 'with its NaN/Inf check and a reused out buffer');
  }
  return rows;
}

function report(res) {
  const dsRows = Object.entries(res.datasets).map(([n, d]) => [n, d.rows, d.cols, d.anomalies]);
  if (dsRows.length) printTable('Datasets', ['dataset', 'rows', 'cols', 'anomalies'], dsRows);

  const det = [];
  for (const [name, byDs] of Object.entries(res.detectors || {}))
    for (const [ds, r] of Object.entries(byDs))
      det.push([name, ds, r.fitS, r.batchRowsPerS, r.singleP50Us, r.singleP99Us, `${fmt(r.singleMeanUs)} ±${fmt(r.singleMeanRmePct, 2)}%`, r.auc]);
  if (det.length) printTable(`nadir detectors (1 thread; latency includes ~${fmt(res.meta.timerOverheadNs)} ns timer overhead)`, ['detector', 'dataset', 'fit s', 'batch rows/s', 'p50 µs', 'p99 µs', 'mean µs (Benchmark.js)', 'ROC-AUC'], det);

  const npm = [];
  for (const [name, byDs] of Object.entries(res.npm || {}))
    for (const [ds, r] of Object.entries(byDs)) npm.push([name, ds, r.rows, r.fitS, r.batchRowsPerS, r.singleP50Us, r.singleP99Us, r.auc]);
  if (npm.length) printTable('npm peers (100 trees / 256 samples; fit and rows/s on the subsample shown)', ['package', 'dataset', 'rows used', 'fit s', 'batch rows/s', 'p50 µs', 'p99 µs', 'ROC-AUC'], npm);

  if (res.sklearn) {
    const py = [];
    const label = { sklearnIsolationForest: 'sklearn IsolationForest', numpyMahalanobis: 'numpy Mahalanobis', sklearnEmpiricalCovariance: 'sklearn EmpiricalCovariance', sklearnPCAReconstruction: 'sklearn PCA recon. error', numpyECOD: 'numpy ECOD (searchsorted)' };
    for (const [ds, d] of Object.entries(res.sklearn.datasets))
      for (const [k, name] of Object.entries(label)) {
        const r = d[k];
        if (r) py.push([name + (r.dtype ? ` (${r.dtype})` : ''), ds, r.fitS, r.batchRowsPerS, r.singleP50Us, r.auc]);
      }
    printTable(`Python peers (python ${res.sklearn.python}, numpy ${res.sklearn.numpy}, scikit-learn ${res.sklearn.sklearn}; 1 thread; 10k-row chunks)`, ['peer', 'dataset', 'fit s', 'batch rows/s', 'p50 µs', 'ROC-AUC'], py);
  }

  if (res.recon) {
    const r = res.recon;
    printTable(`Reconstruction error, ${r.rows} x ${r.cols} floats, two inputs (${fmt(r.inputBytes / 1e6)} MB), SIMD ${r.simd}`, ['what', 'GB/s (input)', 'rows/s', 'vs sum'], [
      ['native sum of one Float32Array of the same bytes', r.sumGBps, null, 1],
      ['native reconError kernel (buffers reused)', r.kernelGBps, r.kernelRowsPerS, r.kernelVsSum],
      ['nadir.reconstructionError() (public API)', r.apiGBps, r.apiRowsPerS, r.apiVsSum],
    ]);
  }

  if (res.comparisons.length)
    printTable('nadir vs peers (same run, same data, 1 thread)', ['comparison', 'dataset', 'nadir', 'peer', 'ratio', 'target', 'met', 'note'],
      res.comparisons.map((c) => [c.what, c.dataset, c.nadir, c.peer, c.unit === 'µs' ? fmt(c.ratio) + ' µs' : fmt(c.ratio) + c.unit, c.target ? `${c.target.cmp} ${c.target.v}${c.unit}` : '-', c.met === null ? '-' : c.met ? 'yes' : 'NO', c.note || '']));

  if (res.notes.length) {
    console.log('\nNotes');
    for (const n of res.notes) console.log(`- ${n}`);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const cfg = config(opts.quick);
  const started = Date.now();
  const notes = [];
  const res = {
    meta: {
      date: new Date().toISOString(),
      commit: gitCommit(),
      node: process.version,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      // 1-minute load average before and after: the machine may be shared, which makes numbers noisy.
      loadAvgStart: os.loadavg()[0],
      simd: nadir.simdInfo(),
      quick: opts.quick,
      threads: 1,
      suites: [...opts.suites],
      dataDir: dataDir(),
      timerOverheadNs: timerOverheadNs(),
    },
    datasets: {},
    detectors: {},
    npm: null,
    sklearn: null,
    recon: null,
    neural: null,
    comparisons: [],
    notes,
  };
  const needData = [...opts.suites].some((s) => s !== 'recon' && s !== 'neural' && !STANDALONE[s]);
  const datasets = [];
  if (needData) {
    for (const name of opts.data) {
      const ds = loadDataset(nadir, name);
      if (ds.missing) {
        notes.push(`dataset ${name}: skipped (${ds.missing})`);
        continue;
      }
      datasets.push(ds);
      res.datasets[name] = { rows: ds.X.rows, cols: ds.X.cols, anomalies: ds.anomalies };
    }
  }
  process.stderr.write(`nadir bench${opts.quick ? ' --quick' : ''}: ${[...opts.suites].join(' ')} on ${datasets.map((d) => d.name).join(', ') || '(no datasets)'}\n`);

  res.detectors = await detectors.run(nadir, datasets, opts.suites, cfg, notes);
  if (opts.suites.has('npm') && datasets.length) res.npm = await npmPeers.run(nadir, datasets, cfg, notes);
  if (opts.suites.has('sklearn') && datasets.length) res.sklearn = sklearn.run(datasets, cfg, notes);
  if (opts.suites.has('recon')) {
    process.stderr.write('  reconstruction error ...\n');
    res.recon = recon.run(nadir, cfg);
  }
  if (opts.suites.has('neural')) {
    process.stderr.write('  neural (bench/neural.js) ...\n');
    res.neural = await neural.run({ quick: opts.quick });
  }
  res.comparisons = comparisons(res);
  res.meta.wallS = (Date.now() - started) / 1000;
  res.meta.loadAvgEnd = os.loadavg()[0];
  report(res);

  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(res, null, 2) + '\n';
  fs.writeFileSync(path.join(dir, 'latest.json'), json);
  if (opts.save) fs.writeFileSync(path.join(dir, `${opts.save}.json`), json);
  console.log(`\nload average ${fmt(res.meta.loadAvgStart)} at start, ${fmt(res.meta.loadAvgEnd)} at end on ${res.meta.cores} cores`);
  console.log(`wrote bench/results/latest.json${opts.save ? ` and bench/results/${opts.save}.json` : ''} (${fmt(res.meta.wallS)} s)`);

  for (const [suite, script] of Object.entries(STANDALONE)) {
    if (!opts.suites.has(suite)) continue;
    const file = path.join(__dirname, script);
    if (!fs.existsSync(file)) {
      console.log(`\n${suite}: skipped (bench/${script} is not in this version)`);
      continue;
    }
    console.log(`\n===== ${suite} (bench/${script}) =====`);
    const r = spawnSync(process.execPath, [file, ...(opts.quick ? ['--quick'] : [])], { stdio: 'inherit' });
    if (r.status !== 0) console.log(`${suite}: exited with status ${r.status}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
