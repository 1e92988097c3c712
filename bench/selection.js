#!/usr/bin/env node
'use strict';
// How well chooseFirstStage picks without labels on data it was not tuned on:
// `node bench/selection.js [--seed=7] [--max-rows=6000] [--data=a,b,...]`.
// On every dataset of ../shared/data except the six of bench/hybrid.js (whose splits were used to
// choose chooseFirstStage's judges and cost cap), with at most 200 features: fit on a seeded 60%
// (thinned to --max-rows), score the other 40% (thinned likewise). Candidates as in hybrid.js's
// 'auto' cascade (PCA on its top 10 components, Mahalanobis, robust Mahalanobis), the default
// autoencoder as the last stage, the default judges, and no cost cap (maxCost 1e6) so the pick is the
// agreement rule's alone. Prints each candidate's test AUC, the pick, and the mean AUC of: the pick,
// each candidate chosen everywhere, and the best candidate per dataset (an oracle that uses labels).
// Results: bench/results/selection.json. Accuracy only; no timing.
const fs = require('fs');
const path = require('path');
const nadir = require('..');
const { dataDir, splitIndices } = require('./lib/data');

const TUNED_ON = new Set(['cardio', 'shuttle', 'satellite', 'mammography', 'pendigits', 'mnist']);
const CANDIDATES = ['PCA top-10', 'Mahalanobis', 'Mahalanobis robust'];

function parseArgs(argv) {
  const o = { seed: 7, maxRows: 6000, data: null };
  for (const a of argv) {
    if (/^--seed=\d+$/.test(a)) o.seed = Number(a.slice(7));
    else if (/^--max-rows=\d+$/.test(a)) o.maxRows = Number(a.slice(11));
    else if (a.startsWith('--data=')) o.data = a.slice(7).split(',').filter(Boolean);
    else {
      console.error(`unknown argument '${a}' (usage: node bench/selection.js [--seed=7] [--max-rows=6000] [--data=a,b,...])`);
      process.exit(2);
    }
  }
  return o;
}

/** Evenly spaced k of the (sorted) indices: the subsample spans the whole file, whatever its row order. */
function thin(idx, k) {
  if (idx.length <= k) return idx;
  const step = idx.length / k;
  return Array.from({ length: k }, (_, j) => idx[Math.floor(j * step)]);
}

async function runDataset(name, cfg) {
  const { X, labels } = nadir.readCsv(path.join(dataDir(), `${name}.csv`), { label: 'label' });
  if (X.cols > 200) return { name, skipped: `${X.cols} features (more than 200)` };
  const split = splitIndices(X.rows, 0.6, cfg.seed);
  const tr = thin(split.train, cfg.maxRows);
  const te = thin(split.test, cfg.maxRows);
  const train = X.selectRows(tr);
  const test = X.selectRows(te);
  const y = Uint8Array.from(te, (i) => (labels[i] > 0 ? 1 : 0));
  const anomalies = y.reduce((a, b) => a + b, 0);
  if (anomalies === 0 || anomalies === y.length) return { name, skipped: 'the test rows hold one class only' };
  const seed = cfg.seed;
  const dets = [
    new nadir.PCA({ ...(X.cols > 10 ? { components: 10 } : {}), threads: 1 }),
    new nadir.Mahalanobis({ threads: 1 }),
    new nadir.Mahalanobis({ method: 'robust', seed, threads: 1 }),
  ];
  const auc = {};
  for (const [j, d] of dets.entries()) {
    try {
      await d.fit(train);
      auc[CANDIDATES[j]] = nadir.rocAuc(await d.score(test), y);
    } catch (e) {
      return { name, skipped: `${CANDIDATES[j]}: ${e.message}` };
    }
  }
  const ae = new nadir.AutoEncoder({ seed, threads: 1 });
  const choice = await nadir.chooseFirstStage(dets, ae, train, { maxCost: 1e6 });
  return { name, rows: X.rows, cols: X.cols, trainRows: train.rows, testRows: test.rows, auc, agreement: choice.agreement, pick: CANDIDATES[choice.index] };
}

async function main() {
  const cfg = parseArgs(process.argv.slice(2));
  const names = cfg.data ?? fs.readdirSync(dataDir()).filter((f) => f.endsWith('.csv')).map((f) => f.slice(0, -4)).filter((n) => !TUNED_ON.has(n)).sort();
  console.log(`nadir first-stage selection on data it was not tuned on (${dataDir()}): fit on a seeded 60% (seed ${cfg.seed}), score the other 40%, at most ${cfg.maxRows} rows each`);
  const results = [];
  for (const name of names) {
    const r = await runDataset(name, cfg);
    results.push(r);
    if (r.skipped) console.log(`  ${name}: skipped (${r.skipped})`);
  }
  const done = results.filter((r) => !r.skipped);
  const w = Math.max(...done.map((r) => r.name.length));
  console.log('');
  console.log(`${'dataset'.padStart(w)}  ${CANDIDATES.map((c) => c.padStart(18)).join('  ')}  pick`);
  for (const r of done) console.log(`${r.name.padStart(w)}  ${CANDIDATES.map((c) => r.auc[c].toFixed(3).padStart(18)).join('  ')}  ${r.pick}`);
  const mean = (f) => done.reduce((a, r) => a + f(r), 0) / done.length;
  const summary = {
    datasets: done.length,
    pick: mean((r) => r.auc[r.pick]),
    always: Object.fromEntries(CANDIDATES.map((c) => [c, mean((r) => r.auc[c])])),
    oracle: mean((r) => Math.max(...CANDIDATES.map((c) => r.auc[c]))),
  };
  console.log('');
  console.log(`mean AUC over ${done.length} datasets: chooseFirstStage's pick ${summary.pick.toFixed(4)}; ${CANDIDATES.map((c) => `always ${c} ${summary.always[c].toFixed(4)}`).join('; ')}; best per dataset (labels) ${summary.oracle.toFixed(4)}`);
  const out = { when: new Date().toISOString(), node: process.version, seed: cfg.seed, maxRows: cfg.maxRows, results, summary };
  const file = path.join(__dirname, 'results', cfg.data ? 'selection-latest.json' : 'selection.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`results: ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
