'use strict';
// Streaming scores vs calling score / scoreSync directly.
//   node bench/stream.js [--detector isolation-forest] [--rows 200000] [--quick]
// 1. Throughput: the same rows through detector.scoreStream at several batch sizes, against
//    score() on the whole matrix, score() in batches, and scoreSync() row by row.
// 2. Added latency: records written at a steady rate; time from write to the scored record coming
//    out, p50 / p99, against scoreSync on one row (what a request handler would do inline).
const path = require('path');
const { Readable, Writable } = require('stream');
const { pipeline } = require('stream/promises');
const nadir = require('..');
const { availableDetectors, findDetector } = require('../dist/cli/registry');

const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const quick = args.includes('--quick');
const ROWS = Number(flag('rows', quick ? 50000 : 200000));
const wanted = flag('detector', ['isolation-forest', 'ecod', 'mahalanobis', 'pca'].find((n) => availableDetectors().some((d) => d.name === n)));
if (!wanted) {
  console.error('no classical detector in this build');
  process.exit(1);
}

const now = () => process.hrtime.bigint();
const ms = (t0) => Number(now() - t0) / 1e6;
const q = (arr, p) => {
  const s = Float64Array.from(arr).sort();
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const rate = (n, msTaken) => `${((n / msTaken) * 1000 / 1e3).toFixed(0)} k/s`;

async function main() {
  const data = nadir.readCsv(path.join(__dirname, '..', 'test', 'fixtures', 'cardio.csv'));
  const entry = findDetector(wanted);
  const det = new entry.ctor({ seed: 1, threads: 1 });
  await det.fit(data);
  const cols = data.X.cols;
  // ROWS rows cycling through cardio, as one matrix and as per-row arrays (what a stream carries).
  const flat = new Float32Array(ROWS * cols);
  for (let i = 0; i < ROWS; i++) flat.set(data.X.row(i % data.X.rows), i * cols);
  const X = new nadir.Matrix(flat, ROWS, cols);
  const rows = Array.from({ length: ROWS }, (_, i) => Array.from(X.row(i)));
  console.log(`${det.type} (threads 1) on ${ROWS} rows x ${cols} features (cardio rows repeated); node ${process.version}, SIMD ${nadir.simdInfo().active}\n`);

  // ------------------------------------------------------------ throughput
  const out = [];
  let t0 = now();
  await det.score(X);
  out.push(['score(X), one call', rate(ROWS, ms(t0))]);
  for (const b of [256, 4096]) {
    t0 = now();
    for (let i = 0; i < ROWS; i += b) await det.score(X.sliceRows(i, i + b));
    out.push([`score() in batches of ${b}`, rate(ROWS, ms(t0))]);
  }
  t0 = now();
  for (let i = 0; i < ROWS; i++) det.scoreSync(X.row(i));
  out.push(['scoreSync() per row', rate(ROWS, ms(t0))]);
  const sink = () => new Writable({ objectMode: true, highWaterMark: 1024, write: (_r, _e, cb) => cb() });
  for (const b of [1, 16, 64, 256, 1024, 4096]) {
    t0 = now();
    await pipeline(Readable.from(rows), det.scoreStream({ batchSize: b, maxDelayMs: 5 }), sink());
    out.push([`scoreStream batchSize ${b} (arrays)`, rate(ROWS, ms(t0))]);
  }
  const names = data.columns;
  const records = rows.slice(0, Math.min(ROWS, 100000)).map((r) => Object.fromEntries(names.map((n, j) => [n, r[j]])));
  t0 = now();
  await pipeline(Readable.from(records), det.scoreStream({ batchSize: 256 }), sink());
  out.push(['scoreStream batchSize 256 (records)', rate(records.length, ms(t0))]);
  t0 = now();
  let n = 0;
  for await (const _ of det.scoreIterable(rows, { batchSize: 256 })) n++;
  out.push(['scoreIterable batchSize 256 (for await)', rate(n, ms(t0))]);
  console.log('Throughput (rows/s)');
  const w = Math.max(...out.map((r) => r[0].length));
  for (const [k, v] of out) console.log(`  ${k.padEnd(w)}  ${v.padStart(9)}`);

  // ------------------------------------------------------------ latency
  // Direct: scoreSync on one row, as a request handler would call it.
  const direct = [];
  for (let i = 0; i < 20000; i++) {
    const t = now();
    det.scoreSync(X.row(i % ROWS));
    direct.push(Number(now() - t) / 1e3);
  }
  console.log(`\nLatency per record, write -> scored record out (µs); direct scoreSync: p50 ${q(direct, 0.5).toFixed(1)}, p99 ${q(direct, 0.99).toFixed(1)}`);
  console.log('  rate      batchSize  maxDelayMs      p50      p99   added p99');
  const seconds = quick ? 0.5 : 1.5;
  for (const perSec of [10000, 100000]) {
    for (const [b, delay] of [[256, 0], [16, 1], [64, 2], [256, 2], [1024, 5]]) {
      const s = det.scoreStream({ batchSize: b, maxDelayMs: delay, highWaterMark: 4096 });
      const lat = [];
      const sent = [];
      s.on('data', (r) => lat.push(Number(now() - sent[r.values.id]) / 1e3));
      const total = Math.floor(perSec * seconds);
      const start = now();
      let k = 0;
      await new Promise((resolve) => {
        // Emit on a 1 ms tick, as many records as the elapsed time calls for.
        const tick = () => {
          const due = Math.min(total, Math.floor((ms(start) / 1000) * perSec));
          for (; k < due; k++) {
            const row = rows[k % ROWS];
            const rec = row.slice();
            rec.id = k;
            sent[k] = now();
            s.write(rec);
          }
          if (k < total) setTimeout(tick, 1);
          else resolve();
        };
        tick();
      });
      s.end();
      await new Promise((r) => s.on('end', r));
      const p50 = q(lat, 0.5);
      const p99 = q(lat, 0.99);
      console.log(
        `  ${String(perSec / 1000).padStart(4)} k/s  ${String(b).padStart(9)}  ${String(delay).padStart(10)}  ${p50.toFixed(0).padStart(7)}  ${p99.toFixed(0).padStart(7)}  ${(p99 - q(direct, 0.99)).toFixed(0).padStart(10)}`,
      );
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
