#!/usr/bin/env node
'use strict';
// GAN benchmark (issue 6): `node bench/gan.js [--quick] [--seeds=N] [--data=a,b] [--epochs=N] [--gan='{json options}'] [--save]`.
// ROC-AUC and fit seconds of GanDetector (every score from one fit: reconstruction, discriminator,
// feature, mix) vs AutoEncoder vs IsolationForest on cardio, satellite, shuttle, mammography and
// mnist from $NADIR_DATA or ../shared/data. Per seed: fit on a seeded 60% split (labels unused),
// score the other 40%. Mean and std across seeds. Target: GAN mean AUC >= the autoencoder's on 3 of
// 5 datasets, with std across seeds <= 2x the autoencoder's. Everything on one thread. A full run
// (5 seeds, no --data/--gan/--epochs overrides) writes bench/results/gan.json.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execSync } = require('child_process');
const nadir = require('..');
const { loadDataset, repoRoot, splitIndices } = require('./lib/data');
const { printTable } = require('./lib/table');

const DATASETS = ['cardio', 'satellite', 'shuttle', 'mammography', 'mnist'];
const GAN_SCORES = ['reconstruction', 'discriminator', 'feature', 'mix'];

function parseArgs(argv) {
  const o = { quick: false, seeds: 5, data: DATASETS, gan: {}, save: null, custom: false };
  for (const a of argv) {
    if (a === '--quick') o.quick = true;
    else if (a.startsWith('--seeds=')) o.seeds = Number(a.slice(8));
    else if (a.startsWith('--data=')) (o.data = a.slice(7).split(',').filter(Boolean)), (o.custom = true);
    else if (a.startsWith('--epochs=')) (o.gan.epochs = Number(a.slice(9))), (o.custom = true);
    else if (a.startsWith('--gan=')) (o.gan = { ...o.gan, ...JSON.parse(a.slice(6)) }), (o.custom = true);
    else if (a === '--save') o.save = true;
    else {
      console.error(`unknown option '${a}'; usage: node bench/gan.js [--quick] [--seeds=N] [--data=a,b] [--epochs=N] [--gan='{...}'] [--save]`);
      process.exit(2);
    }
  }
  if (o.quick) o.seeds = Math.min(o.seeds, 2);
  if (o.save === null) o.save = !o.quick && !o.custom && o.seeds === 5;
  return o;
}

/** Seeded 60/40 split of the rows (bench/lib/data.js). */
function split(ds, seed) {
  const d = ds.X.cols;
  const { train, test } = splitIndices(ds.X.rows, 0.6, seed);
  const take = (rows) => {
    const data = new Float32Array(rows.length * d);
    const labels = new Uint8Array(rows.length);
    rows.forEach((r, i) => {
      data.set(ds.X.data.subarray(r * d, (r + 1) * d), i * d);
      labels[i] = ds.labels[r];
    });
    return { X: new nadir.Matrix(data, rows.length, d), labels };
  };
  return { train: take(train), test: take(test) };
}

const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
const std = (a) => (a.length < 2 ? 0 : Math.sqrt(a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / (a.length - 1)));

async function timed(fn) {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return { r, s: Number(process.hrtime.bigint() - t0) / 1e9 };
}

async function runDataset(ds, opts) {
  const out = { rows: ds.X.rows, features: ds.X.cols, anomalies: ds.anomalies, seeds: [] };
  for (let seed = 1; seed <= opts.seeds; seed++) {
    const { train, test } = split(ds, seed);
    const row = { seed };
    const gan = new nadir.GanDetector({ seed, threads: 1, ...opts.gan });
    const g = await timed(() => gan.fit(train.X));
    const comps = await gan.scoreComponents(test.X);
    const scales = gan.componentScales;
    const w = gan.scoreWeights;
    const n = test.X.rows;
    const col = (k) => Float32Array.from({ length: n }, (_, i) => comps.data[i * 3 + k]);
    const mix = Float32Array.from({ length: n }, (_, i) => (w.reconstruction * comps.data[i * 3]) / scales[0] + (w.discriminator * comps.data[i * 3 + 1]) / scales[1] + (w.feature * comps.data[i * 3 + 2]) / scales[2]);
    const byScore = { reconstruction: col(0), discriminator: col(1), feature: col(2), mix };
    row.gan = { fitS: g.s, auc: nadir.rocAuc(await gan.score(test.X), test.labels), warnings: gan.history.warnings.length, varRatio: gan.history.varRatio.at(-1) };
    for (const s of GAN_SCORES) row.gan[`auc_${s}`] = nadir.rocAuc(byScore[s], test.labels);
    const ae = new nadir.AutoEncoder({ seed, threads: 1, engine: 'native' });
    const a = await timed(() => ae.fit(train.X));
    row.ae = { fitS: a.s, auc: nadir.rocAuc(await ae.score(test.X), test.labels) };
    await ae.close();
    const forest = new nadir.IsolationForest({ seed, threads: 1 });
    const f = await timed(() => forest.fit(train.X));
    row.iforest = { fitS: f.s, auc: nadir.rocAuc(await forest.score(test.X), test.labels) };
    out.seeds.push(row);
    process.stderr.write(`  ${ds.name} seed ${seed}: GAN ${row.gan.auc.toFixed(4)} (${row.gan.fitS.toFixed(1)} s)  AE ${row.ae.auc.toFixed(4)} (${row.ae.fitS.toFixed(1)} s)  IF ${row.iforest.auc.toFixed(4)}\n`);
  }
  const summary = (get) => {
    const v = out.seeds.map(get);
    return { mean: mean(v), std: std(v) };
  };
  out.summary = {
    gan: { auc: summary((r) => r.gan.auc), fitS: summary((r) => r.gan.fitS) },
    ae: { auc: summary((r) => r.ae.auc), fitS: summary((r) => r.ae.fitS) },
    iforest: { auc: summary((r) => r.iforest.auc), fitS: summary((r) => r.iforest.fitS) },
    ganScores: Object.fromEntries(GAN_SCORES.map((s) => [s, summary((r) => r.gan[`auc_${s}`])])),
    collapseWarnings: out.seeds.reduce((a, r) => a + r.gan.warnings, 0),
    varRatio: mean(out.seeds.map((r) => r.gan.varRatio)),
  };
  return out;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const res = { when: new Date().toISOString(), commit: gitCommit(), host: `${os.cpus()[0].model} x${os.cpus().length}`, loadavg: os.loadavg(), seeds: opts.seeds, ganOptions: { ...new nadir.GanDetector(opts.gan).config, seed: undefined }, datasets: {} };
  for (const name of opts.data) {
    const ds = loadDataset(nadir, name);
    if (ds.missing) {
      console.log(`skipping ${name}: ${ds.missing}`);
      continue;
    }
    res.datasets[name] = await runDataset(ds, opts);
  }
  const names = Object.keys(res.datasets);
  const pm = (s) => `${s.mean.toFixed(4)} ± ${s.std.toFixed(4)}`;
  printTable(
    `ROC-AUC (mean ± std over ${opts.seeds} seeds, fit 60% / score 40%) and fit seconds, threads 1`,
    ['dataset', 'rows x d', 'GAN', 'AutoEncoder', 'IsolationForest', 'GAN fit s', 'AE fit s', 'IF fit s', 'mean >= AE', 'std <= 2x AE'],
    names.map((n) => {
      const s = res.datasets[n].summary;
      return [n, `${res.datasets[n].rows} x ${res.datasets[n].features}`, pm(s.gan.auc), pm(s.ae.auc), pm(s.iforest.auc), s.gan.fitS.mean, s.ae.fitS.mean, s.iforest.fitS.mean,
        s.gan.auc.mean >= s.ae.auc.mean ? 'yes' : 'no', s.gan.auc.std <= 2 * s.ae.auc.std ? 'yes' : 'no'];
    }),
  );
  printTable(
    `GanDetector scores from the same fits (default: '${new nadir.GanDetector(opts.gan).scoreType}')`,
    ['dataset', ...GAN_SCORES, 'final varRatio', 'collapse warnings'],
    names.map((n) => [n, ...GAN_SCORES.map((s) => pm(res.datasets[n].summary.ganScores[s])), res.datasets[n].summary.varRatio, res.datasets[n].summary.collapseWarnings]),
  );
  const meanWins = names.filter((n) => res.datasets[n].summary.gan.auc.mean >= res.datasets[n].summary.ae.auc.mean).length;
  const stdOk = names.filter((n) => res.datasets[n].summary.gan.auc.std <= 2 * res.datasets[n].summary.ae.auc.std).length;
  const met = meanWins >= 3 && stdOk === names.length;
  res.target = { meanAtLeastAe: meanWins, stdWithin2xAe: stdOk, datasets: names.length, met };
  console.log(`\nTarget: GAN mean AUC >= AutoEncoder's on >= 3 of 5 datasets: ${meanWins} of ${names.length}; std across seeds <= 2x the AutoEncoder's: ${stdOk} of ${names.length} -> ${met ? 'MET' : 'NOT MET'}`);
  res.seconds = (Date.now() - started) / 1000;
  console.log(`total ${res.seconds.toFixed(0)} s`);
  if (opts.save) {
    const file = path.join(repoRoot, 'bench', 'results', 'gan.json');
    fs.writeFileSync(file, JSON.stringify(res, null, 1) + '\n');
    console.log(`wrote ${path.relative(repoRoot, file)}`);
  }
}

function gitCommit() {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

if (require.main === module)
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
module.exports = { main };
