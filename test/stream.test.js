'use strict';
const assert = require('assert');
const { Readable, Writable } = require('stream');
const { pipeline } = require('stream/promises');
const nadir = require('..');
const { synthetic, tmpFile } = require('./helpers');

/**
 * A small JS detector (distance from the training mean) so these tests do not depend on which
 * native detectors are built; it counts score / scoreSync calls to see the batching.
 */
class MeanDistance extends nadir.Detector {
  constructor(options) {
    super('MeanDistance', options, []);
    this.type = 'MeanDistance';
    this.calls = { async: [], sync: [] };
  }
  rowScores(m) {
    const out = new Float32Array(m.rows);
    for (let i = 0; i < m.rows; i++) {
      let s = 0;
      for (let j = 0; j < m.cols; j++) s += (m.data[i * m.cols + j] - this.mean[j]) ** 2;
      out[i] = Math.sqrt(s);
    }
    return out;
  }
  async fitMatrix(m) {
    this.mean = new Float32Array(m.cols);
    for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) this.mean[j] += m.data[i * m.cols + j] / m.rows;
    return this.rowScores(m);
  }
  async scoreMatrix(m) {
    this.calls.async.push(m.rows);
    await new Promise((r) => setImmediate(r)); // really asynchronous, like a native Job
    return this.rowScores(m);
  }
  scoreMatrixSync(m) {
    this.calls.sync.push(m.rows);
    return this.rowScores(m);
  }
  exportState() {
    return { meta: {}, arrays: { mean: this.mean } };
  }
  importState(s) {
    this.mean = s.arrays.mean;
  }
}
require('../dist/detectors/base').registerDetector('MeanDistance', (o) => new MeanDistance(o));

async function fitted(opts = {}) {
  const { X } = synthetic({ rows: 400, cols: 4, seed: 3 });
  const det = new MeanDistance(opts);
  await det.fit({ X, columns: ['a', 'b', 'c', 'd'] });
  return { det, X };
}

const rowsOf = (X) => Array.from({ length: X.rows }, (_, i) => Array.from(X.row(i)));
const collect = async (it) => {
  const out = [];
  for await (const r of it) out.push(r);
  return out;
};

describe('scoreStream', () => {
  it('keeps input order and matches score() for arrays and records', async () => {
    const { det, X } = await fitted();
    const expected = await det.score(X);
    const rows = rowsOf(X);
    const s = det.scoreStream({ batchSize: 37, maxDelayMs: 1 });
    const out = await collect(Readable.from(rows).pipe(s));
    assert.strictEqual(out.length, X.rows);
    out.forEach((r, i) => {
      assert.strictEqual(r.values, rows[i]);
      assert.strictEqual(r.score, expected[i]);
      assert.strictEqual(r.anomaly, expected[i] > det.threshold);
    });
    const records = rows.map((r, i) => ({ id: i, a: r[0], b: r[1], c: String(r[2]), d: r[3] }));
    const out2 = await collect(det.scoreIterable(records, { batchSize: 64 }));
    assert.deepStrictEqual(out2.map((r) => r.id), records.map((r) => r.id));
    out2.forEach((r, i) => assert.ok(Math.abs(r.score - expected[i]) < 1e-5));
    assert.strictEqual(out2[5].c, records[5].c, 'other fields pass through');
    // Full batches go off the main thread, small tail batches through scoreSync.
    assert.ok(det.calls.async.includes(64));
  });

  it('flushes the partial batch at the end', async () => {
    const { det, X } = await fitted();
    const rows = rowsOf(X).slice(0, 10);
    const out = await collect(det.scoreIterable(rows, { batchSize: 1000, maxDelayMs: 60000 }));
    assert.strictEqual(out.length, 10);
  });

  it('emits a lone record within about maxDelayMs', async () => {
    const { det, X } = await fitted();
    const s = det.scoreStream({ batchSize: 1000, maxDelayMs: 20 });
    const t0 = process.hrtime.bigint();
    const got = new Promise((resolve) => s.once('data', resolve));
    s.write(Array.from(X.row(0)));
    const r = await got;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.strictEqual(typeof r.score, 'number');
    assert.ok(ms >= 15, `came out after ${ms} ms, before the delay`);
    assert.ok(ms < 20 + 500, `came out after ${ms} ms`);
    s.end();
  });

  it('respects back-pressure from a slow consumer', async () => {
    const { det, X } = await fitted();
    const batchSize = 16;
    const hwm = 8;
    const s = det.scoreStream({ batchSize, maxDelayMs: 1, highWaterMark: hwm });
    let produced = 0;
    let consumed = 0;
    let maxAhead = 0;
    const total = 600;
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < total; i++) {
          produced++;
          maxAhead = Math.max(maxAhead, produced - consumed);
          yield Array.from(X.row(i % X.rows));
        }
      })(),
      { highWaterMark: hwm },
    );
    const slow = new Writable({
      objectMode: true,
      highWaterMark: hwm,
      write(_r, _e, cb) {
        consumed++;
        setTimeout(cb, consumed % 50 === 0 ? 5 : 0);
      },
    });
    await pipeline(source, s, slow);
    assert.strictEqual(consumed, total);
    // Source buffer + writable side + batch filling + batch scoring + readable side + sink buffer.
    const bound = hwm * 4 + batchSize * 3;
    if (process.env.SHOW) console.log("maxAhead", maxAhead, "bound", bound);
    assert.ok(maxAhead <= bound, `producer ran ${maxAhead} records ahead of the consumer (bound ${bound})`);
  });

  it('stops accepting writes while nobody reads, also when batches flush on the timer', async () => {
    const { det, X } = await fitted();
    const hwm = 4;
    const s = det.scoreStream({ batchSize: 1000, maxDelayMs: 0, highWaterMark: hwm });
    let accepted = 0;
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 2)); // let each record flush on its own
      const done = await Promise.race([
        new Promise((r) => s.write(Array.from(X.row(i)), () => r(true))),
        new Promise((r) => setTimeout(() => r(false), 30)),
      ]);
      if (!done) break;
      accepted++;
    }
    assert.ok(accepted <= hwm + 1, `${accepted} writes completed with a stalled reader (highWaterMark ${hwm})`);
    s.end();
    const out = await collect(s);
    assert.strictEqual(out.length, accepted + 1, 'every written record comes out once reading starts');
  });

  it('rejects bad records and options with clear errors', async () => {
    const { det } = await fitted();
    await assert.rejects(collect(det.scoreIterable([[1, 2, 3]])), /record 0 has 3 values but this MeanDistance was fitted on 4 features/);
    await assert.rejects(collect(det.scoreIterable([{ a: 1, b: 2, c: 3 }])), /record 0: feature 'd' is missing/);
    await assert.rejects(collect(det.scoreIterable([[1, 2, 3, 4], [1, 'x', 3, 4]])), /record 1: feature 'b' is 'x', not a number/);
    assert.throws(() => det.scoreStream({ batchsize: 3 }), /Unknown option 'batchsize' for scoreStream. Did you mean 'batchSize'/);
    assert.throws(() => det.scoreStream({ maxDelayMs: -1 }), /maxDelayMs/);
    assert.throws(() => det.scoreIterable(42), /Expected an iterable/);
    assert.throws(() => new MeanDistance().scoreStream(), /not fitted/);
    const bare = new MeanDistance();
    await bare.fit(synthetic({ rows: 50, cols: 2 }).X);
    assert.strictEqual(bare.featureNames, undefined);
    await assert.rejects(collect(bare.scoreIterable([{ x: 1, y: 2 }])), /no feature names/);
    const named = await collect(bare.scoreIterable([{ x: 1, y: 2 }], { columns: ['x', 'y'] }));
    assert.strictEqual(named.length, 1);
  });

  it('ends with the error when scoring a batch fails', async () => {
    const { det, X } = await fitted();
    det.scoreMatrix = async () => {
      throw new Error('scoring failed');
    };
    await assert.rejects(collect(det.scoreIterable(rowsOf(X), { batchSize: 64, syncRows: 0 })), /scoring failed/);
  });

  it('stops the source when the consumer breaks early', async () => {
    const { det, X } = await fitted();
    let returned = false;
    async function* src() {
      try {
        for (let i = 0; ; i++) yield Array.from(X.row(i % X.rows));
      } finally {
        returned = true;
      }
    }
    let n = 0;
    for await (const _ of det.scoreIterable(src(), { batchSize: 8 })) if (++n === 20) break;
    await new Promise((r) => setTimeout(r, 10));
    assert.ok(returned, 'source iterator was closed');
  });
});

describe('featureNames', () => {
  it('are recorded from { X, columns } and readCsv, and survive save/load', async function () {
    const path = require('path');
    const data = nadir.readCsv(path.join(__dirname, 'fixtures', 'cardio.csv'));
    const det = new MeanDistance();
    await det.fit(data);
    assert.deepStrictEqual(det.featureNames, data.columns);
    await assert.rejects(det.fit({ X: data.X, columns: ['a'] }), /has 21 columns but 1 column names/);
    assert.deepStrictEqual(det.featureNames, data.columns, 'a failed fit keeps the old names');
    const file = tmpFile('names.nadir');
    det.save(file);
    const back = nadir.loadDetector(file);
    assert.deepStrictEqual(back.featureNames, data.columns);
    const out = await collect(back.scoreIterable([Object.fromEntries(data.columns.map((c, j) => [c, data.X.data[j]]))]));
    assert.strictEqual(out[0].score, (await det.score(data.X.sliceRows(0, 1)))[0]);
  });
});

describe('scoreStream with a time-series model', () => {
  it('scores micro-batches as one series, equal to the batch score of the whole series', async () => {
    const T = 300;
    const data = Float32Array.from({ length: T }, (_, i) => Math.sin(i / 6) + (i === 220 ? 3 : 0));
    const det = await new nadir.LstmForecaster({ window: 12, epochs: 2, seed: 5 }).fit({ data: data.slice(0, 150), rows: 150, cols: 1 });
    const whole = await det.score({ data, rows: T, cols: 1 });
    const out = [];
    for await (const r of det.scoreIterable((function* () { for (const v of data) yield [v]; })(), { batchSize: 7, maxDelayMs: 0 })) out.push(r.score);
    assert.strictEqual(out.length, T);
    let maxRel = 0;
    for (let i = 0; i < T; i++) maxRel = Math.max(maxRel, Math.abs(out[i] - whole[i]) / Math.max(1e-6, Math.abs(whole[i])));
    assert.ok(maxRel <= 1e-5, `stream vs batch max relative difference ${maxRel}`);
    assert.ok(out.slice(12).every((v) => v > 0), 'the state restarted inside the stream');
  });
});
