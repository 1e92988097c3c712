'use strict';
// Python peers (scikit-learn, numpy) run by bench/peers/sklearn_peers.py on the same data, in the
// same run, one thread (OMP/OpenBLAS/MKL limited to 1).
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { repoRoot } = require('../lib/data');

const PYTHON = process.env.NADIR_PYTHON || '/usr/bin/python3';

function available() {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ['-c', 'import sklearn, numpy; print(sklearn.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) return `${PYTHON} has no scikit-learn/numpy`;
  return null;
}

function run(datasets, cfg, notes) {
  const why = available();
  if (why) {
    notes.push(`sklearn/numpy peers: skipped (${why})`);
    return null;
  }
  const dir = path.join(repoRoot, '.bench-out');
  fs.mkdirSync(dir, { recursive: true });
  const spec = { quick: cfg.quick, datasets: [] };
  for (const ds of datasets) {
    const x = path.join(dir, `${ds.name}.f32`);
    const y = path.join(dir, `${ds.name}.labels.u8`);
    fs.writeFileSync(x, Buffer.from(ds.X.data.buffer, ds.X.data.byteOffset, ds.X.data.byteLength));
    fs.writeFileSync(y, Buffer.from(ds.labels.buffer, ds.labels.byteOffset, ds.labels.byteLength));
    spec.datasets.push({ name: ds.name, x, labels: y, rows: ds.X.rows, cols: ds.X.cols });
  }
  const specFile = path.join(dir, 'spec.json');
  fs.writeFileSync(specFile, JSON.stringify(spec));
  process.stderr.write(`  python peers on ${datasets.map((d) => d.name).join(', ')} ...\n`);
  const r = spawnSync(PYTHON, [path.join(__dirname, '..', 'peers', 'sklearn_peers.py'), specFile], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    timeout: cfg.pythonTimeoutS * 1000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) {
    notes.push(`sklearn/numpy peers: failed (${r.error ? r.error.message : `exit ${r.status}`}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
    return null;
  }
  notes.push('numpy Mahalanobis: (X - mu) @ P * (X - mu) summed per row in 10k-row chunks; the faster of float64 and float32 is compared');
  return JSON.parse(r.stdout);
}

module.exports = { run };
