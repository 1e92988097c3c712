'use strict';
// The addon is context-aware: it loads and works in worker_threads, several at once, and a worker
// terminated in the middle of native work leaves the process healthy.
const assert = require('assert');
const path = require('path');
const { Worker } = require('worker_threads');
const nadir = require('..');
const { synthetic } = require('./helpers');

const root = path.join(__dirname, '..');

// Worker body: fits ECOD on seeded synthetic data and posts the scores (or loops forever when asked).
const body = `
const { parentPort, workerData } = require('worker_threads');
const nadir = require(workerData.root);
const { synthetic } = require(workerData.root + '/test/helpers');
(async () => {
  const { X } = synthetic({ rows: workerData.rows, cols: 6, seed: workerData.seed });
  do {
    const det = await new nadir.ECOD({ threads: 2 }).fit(X);
    const scores = await det.score(X);
    const sync = det.scoreSync(X);
    parentPort.postMessage({ scores, sync, simd: nadir.simdInfo().active });
  } while (workerData.forever);
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
`;

function runWorker(workerData) {
  return new Promise((resolve, reject) => {
    const w = new Worker(body, { eval: true, workerData: { root, ...workerData } });
    w.once('message', (m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`worker exited with code ${code} before answering`)));
  });
}

async function mainScores(seed, rows) {
  const { X } = synthetic({ rows, cols: 6, seed });
  const det = await new nadir.ECOD({ threads: 1 }).fit(X);
  return det.score(X);
}

describe('worker_threads', () => {
  it('two workers and the main thread use the addon at once and agree exactly', async () => {
    const [a, b, mainA, mainB] = await Promise.all([
      runWorker({ seed: 11, rows: 3000 }),
      runWorker({ seed: 12, rows: 3000 }),
      mainScores(11, 3000),
      mainScores(12, 3000),
    ]);
    assert.deepStrictEqual(a.scores, mainA);
    assert.deepStrictEqual(a.sync, mainA);
    assert.deepStrictEqual(b.scores, mainB);
    assert.strictEqual(a.simd, nadir.simdInfo().active);
  });

  it('terminating a worker in the middle of native work leaves the process healthy', async () => {
    // Several stop points, so at least one lands while a fit or score runs on the thread pool
    // (before the fix in async.h this aborted the process).
    for (const delay of [0, 3, 8]) {
      const w = new Worker(body, { eval: true, workerData: { root, seed: 13, rows: 20000, forever: true } });
      const errors = [];
      w.on('error', (e) => errors.push(e));
      await new Promise((resolve) => w.once('message', resolve));
      await new Promise((resolve) => setTimeout(resolve, delay));
      const code = await w.terminate();
      assert.strictEqual(code, 1);
      assert.deepStrictEqual(errors, []);
    }
    // The main thread and a fresh worker still work and still agree.
    const [again, main] = await Promise.all([runWorker({ seed: 14, rows: 2000 }), mainScores(14, 2000)]);
    assert.deepStrictEqual(again.scores, main);
  });
});
