'use strict';
// JavaScript isolation forests from npm, 100 trees / 256 samples, timed on a seeded subsample
// (they build and walk trees of JS objects and would take very long on the larger datasets).
const { median, now, seconds, latency } = require('../lib/timing');
const { sampleRows, toArrays } = require('../lib/data');

const PEERS = [
  {
    name: 'isolation-forest',
    note: 'isolation-forest(100, 256): builds each tree from the whole training array (height-limited to 8)',
    load: () => require('isolation-forest').IsolationForest,
    fit(Cls, rows) {
      const m = new Cls(100, 256);
      m.fit(rows);
      return m;
    },
    predict: (m, rows) => m.predict(rows),
  },
  {
    name: 'ml-isolation-forest',
    note: 'ml-isolation-forest({ nEstimators: 100 }) has no sample-size option: trained on a seeded 256-row sample of the subsample',
    load: () => require('ml-isolation-forest').IsolationForest,
    fit(Cls, rows) {
      const m = new Cls({ nEstimators: 100 });
      m.train(sampleRows(rows.length, 256, 7).map((i) => rows[i]));
      return m;
    },
    predict: (m, rows) => m.predict(rows),
  },
];

async function run(nadir, datasets, cfg, notes) {
  const out = {};
  for (const peer of PEERS) {
    let Cls;
    try {
      Cls = peer.load();
    } catch (e) {
      notes.push(`${peer.name}: skipped (not installed: ${e.message.split('\n')[0]})`);
      continue;
    }
    notes.push(peer.note);
    out[peer.name] = {};
    for (const ds of datasets) {
      process.stderr.write(`  ${peer.name} on ${ds.name} ...\n`);
      const idx = sampleRows(ds.X.rows, cfg.peerRows, 1);
      const rows = toArrays(ds.X, idx);
      const labels = idx.map((i) => ds.labels[i]);
      const fits = [];
      let model;
      const start = now();
      do {
        const t0 = now();
        model = peer.fit(Cls, rows);
        fits.push(seconds(t0));
      } while (fits.length < cfg.fitReps && seconds(start) < cfg.budgetS / 2);
      let scores;
      const batch = [];
      const bstart = now();
      do {
        const t0 = now();
        scores = peer.predict(model, rows);
        batch.push(seconds(t0));
      } while (batch.length < cfg.minReps && seconds(bstart) < cfg.budgetS / 2);
      let auc = null;
      try { auc = nadir.rocAuc(scores, labels); } catch { /* single-class subsample */ }
      const lat = latency((i) => peer.predict(model, [rows[i % rows.length]]), cfg.peerLatencyCalls, 50);
      out[peer.name][ds.name] = {
        rows: rows.length,
        subsampled: rows.length < ds.X.rows,
        fitS: median(fits),
        batchRowsPerS: rows.length / median(batch),
        singleP50Us: lat.p50Us,
        singleP99Us: lat.p99Us,
        auc,
      };
    }
  }
  return out;
}

module.exports = { run };
