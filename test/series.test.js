'use strict';
const assert = require('assert');
const nadir = require('..');
const { rng, gaussian } = require('./helpers');

describe('series utilities', () => {
  it('makeWindows: window, stride, horizon', () => {
    const X = new nadir.Matrix(Float32Array.from({ length: 20 }, (_, i) => i), 10, 2); // row t = [2t, 2t+1]
    const w = nadir.makeWindows(X, { window: 3, stride: 2, horizon: 2 });
    assert.deepStrictEqual(Array.from(w.starts), [0, 2, 4]);
    assert.deepStrictEqual([w.inputs.rows, w.inputs.cols, w.targets.cols], [3, 6, 4]);
    assert.deepStrictEqual(Array.from(w.inputs.data.subarray(6, 12)), [4, 5, 6, 7, 8, 9]);
    assert.deepStrictEqual(Array.from(w.targets.data.subarray(4, 8)), [10, 11, 12, 13]);
    assert.throws(() => nadir.makeWindows(X, { window: 9, horizon: 2 }), /needs at least 11/);
    assert.throws(() => nadir.makeWindows(X, { window: 3, strid: 1 }), /Did you mean 'stride'/);
  });

  it('fitStandardizer / standardize: per-channel mean and std; constant channels stay finite', () => {
    const X = new nadir.Matrix(Float32Array.from([1, 5, 3, 5, 5, 5]), 3, 2);
    const s = nadir.fitStandardizer(X);
    assert.deepStrictEqual(Array.from(s.mean), [3, 5]);
    assert.ok(Math.abs(s.std[0] - Math.sqrt(8 / 3)) < 1e-6 && s.std[1] === 1);
    const z = nadir.standardize(X, s);
    assert.ok(Math.abs(z[0] + Math.sqrt(1.5)) < 1e-6 && z[1] === 0);
  });

  it('checkTimestamps: strictly increasing, regular; gaps and irregular steps rejected with the row', () => {
    const ts = Array.from({ length: 10 }, (_, i) => 1000 + 60 * i);
    assert.strictEqual(nadir.checkTimestamps(ts, 10).step, 60);
    assert.strictEqual(nadir.checkTimestamps(ts.map((t) => new Date(t)), 10).times[3], 1180);
    assert.throws(() => nadir.checkTimestamps(ts, 9), /10 entries but the series has 9 rows/);
    assert.throws(() => nadir.checkTimestamps([...ts.slice(0, 5), 1000 + 60 * 4, ...ts.slice(6)], 10), /strictly increasing/);
    assert.throws(() => nadir.checkTimestamps([...ts.slice(0, 5), ...ts.slice(5).map((t) => t + 120)], 10), /gap before row 5/);
    assert.throws(() => nadir.checkTimestamps([...ts.slice(0, 5), ts[4] + 10, ...ts.slice(6)], 10), /irregular before row 5/);
    assert.throws(() => nadir.checkTimestamps([1, NaN, 3], 3), /timestamps\[1\] is NaN/);
  });

  it('ewma: starts at `from`, raw values before', () => {
    const s = nadir.ewma([5, 1, 2, 4], 0.5, 1);
    assert.deepStrictEqual(Array.from(s), [5, 1, 1.5, 2.75]);
    assert.throws(() => nadir.ewma([1], 1), /smoothing/);
  });

  it('dynamicThreshold separates planted anomalies from noise; extra rounds uncover smaller events under a huge one', () => {
    const rand = rng(4);
    const e = Float32Array.from({ length: 2000 }, () => Math.abs(gaussian(rand)));
    for (let t = 500; t < 510; t++) e[t] = 8;
    const d = nadir.dynamicThreshold(e);
    assert.ok(d.threshold > 3 && d.threshold < 8, JSON.stringify(d));
    e[1500] = 500;
    const one = nadir.dynamicThreshold(e);
    assert.ok(one.threshold > 8, 'a single pass only sees the huge spike');
    const two = nadir.dynamicThreshold(e, { rounds: 2 });
    assert.ok(two.threshold < 8 && two.threshold > 3, JSON.stringify(two));
    assert.deepStrictEqual(nadir.findEvents(e, two.threshold, { pruning: 0.13 }).map((x) => [x.start, x.end]), [[500, 509], [1500, 1500]]);
    // More rounds reach into the noise's tail; pruning keeps that to a stray point.
    const five = nadir.dynamicThreshold(e, { rounds: 5 });
    assert.ok(five.threshold <= two.threshold);
    assert.ok(nadir.findEvents(e, five.threshold, { pruning: 0.13 }).length <= 3);
    assert.throws(() => nadir.dynamicThreshold(e, { zmin: 1 }), /Did you mean 'zMin'/);
  });

  it('findEvents: intervals, peak, severity, minGap merging, pruning, warm-up', () => {
    const s = [0, 5, 6, 0, 0, 4, 0, 0, 0, 9, 0, 0];
    const ev = nadir.findEvents(s, 3);
    assert.deepStrictEqual(ev.map((e) => [e.start, e.end, e.peak, e.score]), [[1, 2, 2, 6], [5, 5, 5, 4], [9, 9, 9, 9]]);
    assert.ok(ev[2].severity > ev[0].severity && ev[1].severity > 0);
    assert.deepStrictEqual(nadir.findEvents(s, 3, { minGap: 2 }).map((e) => [e.start, e.end]), [[1, 5], [9, 9]]);
    assert.deepStrictEqual(nadir.findEvents(s, 3, { from: 3 }).map((e) => e.start), [5, 9]);
    // Peaks 9, 6, 4 and the largest unflagged 0: drops 0.33, 0.33, 1: all kept at 0.13; at 0.5 only the last drop counts.
    assert.strictEqual(nadir.findEvents(s, 3, { pruning: 0.13 }).length, 3);
    const close = [0, 10, 0, 9.5, 0, 2, 0];
    assert.deepStrictEqual(nadir.findEvents(close, 1, { pruning: 0.13 }).map((e) => e.start), [1, 3, 5]);
    assert.deepStrictEqual(nadir.findEvents([0, 10, 0, 9.5, 0, 9.4, 0, 1.5], 1.6, { pruning: 0.13 }).map((e) => e.start), [1, 3, 5]);
    assert.deepStrictEqual(nadir.findEvents([0, 10, 0, 9.5, 0, 1.7, 0, 1.6], 1.65, { pruning: 0.13 }).map((e) => e.start), [1, 3]);
  });
});
