'use strict';
// Training throughput and accuracy of nadir's native AutoEncoder vs PyTorch (same architecture,
// same split, same epochs, one thread each), plus native single-row scoring latency.
//   node bench/neural-train.js [--epochs 20] [--seeds 3] [--csv path]
// PyTorch runs through /usr/bin/python3 (skipped when it has no torch) with OMP_NUM_THREADS=1.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const nadir = require('..');

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const EPOCHS = Number(arg('epochs', 20));
const SEEDS = Array.from({ length: Number(arg('seeds', 3)) }, (_, i) => i + 1);
const CSV = path.resolve(arg('csv', path.join(__dirname, '..', 'test', 'fixtures', 'cardio.csv')));
const BATCHES = [32, 256];
const TARGET = { 32: 10, 256: 2 };

function mulberry(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;

async function main() {
  const { X, labels } = nadir.readCsv(CSV);
  // Seeded 70/30 split: train without labels, AUC on the held-out part.
  const rand = mulberry(42);
  const idx = Array.from({ length: X.rows }, (_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const cut = Math.floor(0.7 * idx.length);
  const train = idx.slice(0, cut).sort((a, b) => a - b);
  const test = idx.slice(cut).sort((a, b) => a - b);
  const Xtr = X.selectRows(train);
  const Xte = X.selectRows(test);
  const yte = test.map((i) => labels[i]);
  console.log(`data: ${path.basename(CSV)} ${X.rows} x ${X.cols}, train ${train.length}, test ${test.length}; epochs ${EPOCHS}, seeds ${SEEDS.join(',')}, 1 thread; SIMD ${nadir.simdInfo().active}`);

  // Warm-up: first-call costs (thread pool start, page faults) are not training throughput.
  await new nadir.AutoEncoder({ seed: 1, threads: 1, epochs: 2 }).fit(Xtr);
  const native = {};
  for (const bs of BATCHES) {
    const runs = [];
    for (const seed of SEEDS) {
      let secs = 0;
      const ae = new nadir.AutoEncoder({ seed, threads: 1, epochs: EPOCHS, batchSize: bs, patience: 0, validationSplit: 0, onEpoch: (e) => (secs += e.seconds) });
      const t0 = process.hrtime.bigint();
      await ae.fit(Xtr);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const auc = nadir.rocAuc(await ae.score(Xte), yte);
      const row = Xte.row(0);
      for (let i = 0; i < 2000; i++) ae.scoreSync(row);
      const ts = new Float64Array(20000);
      for (let i = 0; i < ts.length; i++) {
        const a = process.hrtime.bigint();
        ae.scoreSync(row);
        ts[i] = Number(process.hrtime.bigint() - a) / 1000;
      }
      ts.sort();
      runs.push({ samplesPerSec: (train.length * EPOCHS) / secs, wallSamplesPerSec: (train.length * EPOCHS) / wall, auc, p50us: ts[ts.length >> 1], p99us: ts[Math.floor(ts.length * 0.99)] });
    }
    native[bs] = runs;
  }

  let torch = null;
  const py = '/usr/bin/python3';
  if (fs.existsSync(py)) {
    const cfgFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nadir-bench-')), 'cfg.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ csv: CSV, train, test, epochs: EPOCHS, seeds: SEEDS, batches: BATCHES, hidden: [64, 32], dropout: 0.2 }));
    try {
      const out = execFileSync(py, [path.join(__dirname, 'neural-train-torch.py'), cfgFile], {
        env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
        maxBuffer: 1 << 24,
      });
      torch = JSON.parse(out.toString().trim().split('\n').pop());
    } catch (e) {
      console.log(`PyTorch peer skipped: ${e.message.split('\n')[0]}`);
    }
  }

  const f = (v, d = 0) => v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(`\nAutoEncoder training, samples/s (mean of ${SEEDS.length} runs; native = time inside epochs, wall includes scheduling and onEpoch)`);
  for (const bs of BATCHES) {
    const n = native[bs];
    const ns = mean(n.map((r) => r.samplesPerSec));
    const nw = mean(n.map((r) => r.wallSamplesPerSec));
    let line = `  batch ${String(bs).padStart(3)}: nadir ${f(ns)} (wall ${f(nw)})`;
    if (torch) {
      const t = torch.results[String(bs)];
      const ts = mean(t.map((r) => r.samplesPerSec));
      line += `  PyTorch ${torch.torch} ${f(ts)}  ratio ${f(ns / ts, 1)}x (target >= ${TARGET[bs]}x) ${ns / ts >= TARGET[bs] ? 'OK' : 'MISSED'}`;
    }
    console.log(line);
  }
  console.log('\nAUC on the held-out 30% (mean over seeds)');
  for (const bs of BATCHES) {
    const na = mean(native[bs].map((r) => r.auc));
    let line = `  batch ${String(bs).padStart(3)}: nadir ${f(na, 4)} [${native[bs].map((r) => f(r.auc, 3)).join(' ')}]`;
    if (torch) {
      const t = torch.results[String(bs)];
      const ta = mean(t.map((r) => r.auc));
      line += `  PyTorch ${f(ta, 4)} [${t.map((r) => f(r.auc, 3)).join(' ')}]  diff ${f(na - ta, 4)} (target |diff| <= 0.01) ${Math.abs(na - ta) <= 0.01 ? 'OK' : 'MISSED'}`;
    }
    console.log(line);
  }
  const p50 = mean(native[32].map((r) => r.p50us));
  const p99 = mean(native[32].map((r) => r.p99us));
  let line = `\nsingle-row scoreSync: nadir p50 ${f(p50, 2)} us, p99 ${f(p99, 2)} us (target p50 <= 5 us) ${p50 <= 5 ? 'OK' : 'MISSED'}`;
  if (torch) line += `; PyTorch forward p50 ${f(mean(torch.results['32'].map((r) => r.p50us)), 1)} us`;
  console.log(line);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
