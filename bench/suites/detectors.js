'use strict';
// nadir's detectors, one thread each: fit seconds, batch scoring rows/s, single-row scoreSync
// latency, ROC-AUC (fit and scored on the whole dataset, labels unseen).
const { median, seconds, now, latency, benchmarkMean } = require('../lib/timing');

const SPECS = [
  { suite: 'iforest', name: 'IsolationForest', cls: 'IsolationForest', make: (n) => new n.IsolationForest({ trees: 100, sampleSize: 256, threads: 1, seed: 1 }) },
  { suite: 'classical', name: 'Mahalanobis classical', cls: 'Mahalanobis', make: (n) => new n.Mahalanobis({ method: 'classical', threads: 1 }) },
  { suite: 'robust', name: 'Mahalanobis robust', cls: 'Mahalanobis', make: (n) => new n.Mahalanobis({ method: 'robust', threads: 1 }) },
  { suite: 'ecod', name: 'ECOD', cls: 'ECOD', make: (n) => new n.ECOD({ threads: 1 }) },
  { suite: 'pca', name: 'PCA', cls: 'PCA', make: (n) => new n.PCA({ threads: 1 }) },
];

/** Up to `k` rows spread over the dataset, each its own Float32Array (as a caller would pass). */
function singleRows(X, k) {
  const stride = Math.max(1, Math.floor(X.rows / k));
  const rows = [];
  for (let i = 0; i < X.rows && rows.length < k; i += stride) rows.push(X.data.slice(i * X.cols, (i + 1) * X.cols));
  return rows;
}

async function repeat(fn, minReps, maxReps, budgetS) {
  const times = [];
  const start = now();
  while (times.length < maxReps && (times.length < minReps || seconds(start) < budgetS)) {
    const t0 = now();
    await fn();
    times.push(seconds(t0));
  }
  return times;
}

async function runDetector(nadir, spec, ds, cfg) {
  const { X, labels } = ds;
  const fitTimes = [];
  let det;
  // Fit: repeated while cheap (a slow fit is timed once).
  const start = now();
  do {
    det = spec.make(nadir);
    const t0 = now();
    await det.fit(X);
    fitTimes.push(seconds(t0));
  } while (fitTimes.length < cfg.fitReps && seconds(start) < cfg.budgetS);
  let scores;
  const batch = await repeat(async () => { scores = await det.score(X); }, cfg.minReps, cfg.scoreReps, cfg.budgetS);
  let auc = null;
  try { auc = nadir.rocAuc(scores, labels); } catch { /* single-class data */ }
  const rows = singleRows(X, 4096);
  const lat = latency((i) => det.scoreSync(rows[i % rows.length]), cfg.latencyCalls, cfg.latencyWarmup);
  const mean = benchmarkMean(`${spec.name} scoreSync`, (i) => det.scoreSync(rows[i % rows.length]), cfg.benchMaxTime);
  return {
    fitS: median(fitTimes),
    fitRuns: fitTimes.length,
    batchRowsPerS: X.rows / median(batch),
    batchRuns: batch.length,
    singleP50Us: lat.p50Us,
    singleP99Us: lat.p99Us,
    singleMeanUs: mean.meanUs,
    singleMeanRmePct: mean.rmePct,
    singleCalls: lat.calls,
    auc,
  };
}

async function run(nadir, datasets, selected, cfg, notes) {
  const out = {};
  for (const spec of SPECS) {
    if (!selected.has(spec.suite)) continue;
    if (typeof nadir[spec.cls] !== 'function') {
      notes.push(`${spec.name}: skipped (nadir.${spec.cls} is not in this build yet)`);
      continue;
    }
    out[spec.name] = {};
    for (const ds of datasets) {
      process.stderr.write(`  ${spec.name} on ${ds.name} ...\n`);
      try {
        out[spec.name][ds.name] = await runDetector(nadir, spec, ds, cfg);
      } catch (e) {
        notes.push(`${spec.name} on ${ds.name}: failed: ${e.message}`);
      }
    }
  }
  return out;
}

module.exports = { run, SPECS, singleRows };
