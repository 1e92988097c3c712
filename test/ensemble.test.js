'use strict';
const assert = require('assert');
const nadir = require('..');
const { synthetic, shipped, tmpFile, maxAbsDiff } = require('./helpers');
const { ZToy, MaxToy, IdentityToy, realDetectors } = require('./toy-detectors');

const close = (a, b, eps = 1e-6) => a.length === b.length && Array.from(a).every((v, i) => Math.abs(v - b[i]) <= eps);

describe('Ensemble', () => {
  it('combine methods are correct on hand-made member scores', () => {
    const m = [
      [0.1, 0.9, 0.5, 0.0],
      [0.3, 0.2, 0.5, 1.0],
      [0.8, 0.4, 0.2, 0.0],
      [0.6, 0.1, 0.9, 0.5],
    ];
    const c = (plan) => Array.from(nadir.combineScores(m, plan));
    assert.ok(close(c({ method: 'average' }), [0.45, 0.4, 0.525, 0.375]));
    assert.ok(close(c({ method: 'max' }), [0.8, 0.9, 0.9, 1.0]));
    assert.ok(close(c({ method: 'median' }), [0.45, 0.3, 0.5, 0.25]));
    assert.ok(close(c({ method: 'weighted', weights: [0.5, 0.5, 0, 0] }), [0.2, 0.55, 0.5, 0.5]));
    const groups = [[0, 1], [2, 3]];
    // aom: mean of bucket maxima; moa: max of bucket means.
    assert.ok(close(c({ method: 'aom', groups }), [(0.3 + 0.8) / 2, (0.9 + 0.4) / 2, (0.5 + 0.9) / 2, (1.0 + 0.5) / 2]));
    assert.ok(close(c({ method: 'moa', groups }), [0.7, 0.55, 0.55, 0.5]));
    // Buckets: a seeded partition of the members.
    const g = nadir.bucketGroups(7, 3, 42);
    assert.deepStrictEqual(g.flat().sort(), [0, 1, 2, 3, 4, 5, 6]);
    assert.deepStrictEqual(g.map((x) => x.length).sort(), [2, 2, 3]);
    assert.deepStrictEqual(nadir.bucketGroups(7, 3, 42), g);
    assert.notDeepStrictEqual(nadir.bucketGroups(7, 3, 43), g);
  });

  it('fits members in parallel, combines calibrated scores, keeps the contract', async () => {
    const { X, labels } = synthetic({ rows: 2000, cols: 6, seed: 3 });
    let running = 0;
    let peak = 0;
    class SlowToy extends ZToy {
      async fitMatrix(m) {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 30));
        running--;
        return super.fitMatrix(m);
      }
    }
    const members = [new SlowToy(), new SlowToy({ power: 1 }), new SlowToy({ power: 4 })];
    const e = new nadir.Ensemble({ members, combine: 'average', contamination: 0.05 });
    await e.fit(X);
    assert.strictEqual(peak, 3, 'members should fit concurrently');
    const s = await e.score(X);
    const manual = nadir.combineScores(await Promise.all(members.map(async (d) => d.normalize(await d.score(X)))), { method: 'average' });
    assert.ok(maxAbsDiff(s, manual) < 1e-7);
    assert.ok(maxAbsDiff(e.scoreSync(X), s) < 1e-7);
    assert.ok(nadir.rocAuc(s, labels) > 0.95, `AUC ${nadir.rocAuc(s, labels)}`);
    const flagged = (await e.predict(X)).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(flagged - 100) <= 2, `${flagged}`);
    const n = e.normalize(s);
    assert.ok(n.every((v) => v >= 0 && v <= 1));
    assert.deepStrictEqual(await e.memberScores(X.sliceRows(0, 5)), await Promise.all(members.map(async (d) => d.normalize(await d.score(X.sliceRows(0, 5))))));
  });

  it('weights, max, median, aom and moa run end to end; aom/moa buckets follow the seed', async () => {
    const { X, labels } = shipped('cardio');
    const mk = () => [new ZToy(), new ZToy({ power: 1 }), new MaxToy(), new ZToy({ power: 3 })];
    for (const combine of ['max', 'median', 'aom', 'moa', [1, 0, 2, 1]]) {
      const e = await new nadir.Ensemble({ members: mk(), combine, seed: 5 }).fit(X);
      const auc = nadir.rocAuc(await e.score(X), labels);
      assert.ok(auc > 0.7, `${JSON.stringify(combine)}: AUC ${auc}`);
    }
    const a = new nadir.Ensemble({ members: mk(), combine: 'aom', buckets: 2, seed: 1 });
    const b = new nadir.Ensemble({ members: mk(), combine: 'aom', buckets: 2, seed: 1 });
    assert.deepStrictEqual(a.combination, b.combination);
    assert.strictEqual(a.combination.groups.length, 2);
    const w = new nadir.Ensemble({ members: mk(), combine: [1, 0, 2, 1] });
    assert.deepStrictEqual(w.combination.weights, [0.25, 0, 0.5, 0.25]);
  });

  it('refit: false keeps members that are already fitted', async () => {
    const { X } = synthetic({ rows: 800, cols: 5, seed: 21 });
    const other = synthetic({ rows: 800, cols: 5, seed: 22 }).X;
    const a = await new ZToy().fit(other);
    const before = await a.score(X);
    const e = await new nadir.Ensemble({ members: [a, new ZToy({ power: 1 })], refit: false }).fit(X);
    assert.deepStrictEqual(await a.score(X), before);
    assert.ok(e.members[1].fitted);
    const r = await new nadir.Ensemble({ members: [a, new ZToy({ power: 1 })] }).fit(X);
    assert.notDeepStrictEqual(await r.members[0].score(X), before, 'the default refits');
  });

  it('save -> load round trip gives identical scores, members included', async () => {
    const { X } = shipped('cardio');
    const real = Object.values(realDetectors()).map((f) => f());
    const members = [new ZToy(), new MaxToy({ calibration: 'zscore' }), ...real];
    const e = await new nadir.Ensemble({ members, combine: 'moa', calibration: 'unify', threshold: 'spot', seed: 9 }).fit(X);
    const s = await e.score(X);
    const f = tmpFile('ens.nadir');
    e.save(f);
    for (const back of [nadir.Ensemble.load(f), nadir.loadDetector(f), nadir.Ensemble.fromBytes(e.toBytes())]) {
      assert.ok(back instanceof nadir.Ensemble);
      assert.deepStrictEqual(back.members.map((d) => d.type), members.map((d) => d.type));
      assert.deepStrictEqual(await back.score(X), s);
      assert.deepStrictEqual(back.scoreSync(X.sliceRows(0, 3)), s.subarray(0, 3));
      assert.deepStrictEqual(back.thresholdInfo, e.thresholdInfo);
      assert.deepStrictEqual(back.combination, e.combination);
      assert.strictEqual(back.calibrationMethod, 'unify');
    }
  });

  it('explain: members weighted as combined, contributions sum to the ensemble score; clear error without member explanations', async () => {
    const { X } = synthetic({ rows: 500, cols: 5, seed: 6 });
    const rows = X.sliceRows(0, 20);
    const data = Float32Array.from(rows.data);
    data[3 * 5 + 2] += 25; // row 3, feature 2 is way out
    const Q = new nadir.Matrix(data, 20, 5);
    for (const combine of ['average', 'max', 'median', 'aom', 'moa', [3, 1, 1]]) {
      const e = await new nadir.Ensemble({ members: [new ZToy(), new ZToy({ power: 1 }), new ZToy({ power: 4 })], combine, seed: 2 }).fit(X);
      const ex = await e.explain(Q);
      const s = await e.score(Q);
      assert.strictEqual(ex.rows, 20);
      assert.strictEqual(ex.cols, 5);
      for (let i = 0; i < 20; i++) {
        const sum = Array.from(ex.row(i)).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - s[i]) < 1e-4, `${JSON.stringify(combine)} row ${i}: ${sum} vs ${s[i]}`);
      }
      const r3 = Array.from(ex.row(3));
      assert.strictEqual(r3.indexOf(Math.max(...r3)), 2);
    }
    const e = await new nadir.Ensemble({ members: [new ZToy(), new MaxToy()] }).fit(X);
    await assert.rejects(e.explain(Q), (err) => err instanceof nadir.NadirError && /Ensemble\.explain needs an explanation from every member, but members\[1\] \(MaxToy\) cannot give one/.test(err.message));
  });

  it('bad options and inputs are named', async () => {
    const t = (o, re) => assert.throws(() => new nadir.Ensemble(o), (e) => e instanceof nadir.OptionError && re.test(e.message), re.source);
    t(undefined, /Ensemble options must be an object/);
    t({}, /'members' must be an array of detectors but received nothing/);
    t({ members: [new ZToy()] }, /needs at least 2 detectors but received 1/);
    t({ members: [new ZToy(), {}] }, /'members\[1\]' must be a nadir detector but received Object/);
    const z = new ZToy();
    t({ members: [z, z] }, /the same ZToy instance twice/);
    t({ members: [new ZToy(), new ZToy()], combine: 'mean' }, /Expected one of 'average', 'max', 'median', 'aom', 'moa' or an array of weights for Ensemble option 'combine' but received "mean"/);
    t({ members: [new ZToy(), new ZToy()], combine: [1] }, /has 1 weights but there are 2 members/);
    t({ members: [new ZToy(), new ZToy()], combine: [1, -1] }, /'combine\[1\]' must be a finite weight >= 0/);
    t({ members: [new ZToy(), new ZToy()], combine: [0, 0] }, /must not all be 0/);
    t({ members: [new ZToy(), new ZToy()], buckets: 2 }, /'buckets' applies only to combine 'aom' or 'moa'/);
    t({ members: [new ZToy(), new ZToy()], combine: 'aom', buckets: 3 }, /'buckets' is 3 but there are only 2 members/);
    t({ members: [new ZToy(), new ZToy()], combne: 'max' }, /Unknown option 'combne' for Ensemble\. Did you mean 'combine'\?/);
    t({ members: [new ZToy(), new ZToy()], calibration: 'rank' }, /option 'calibration'/);
    const e = new nadir.Ensemble({ members: [new ZToy(), new ZToy()] });
    await assert.rejects(e.score([[1, 2]]), nadir.NotFittedError);
    const { X } = synthetic({ rows: 100, cols: 4 });
    await e.fit(X);
    await assert.rejects(e.score([[1, 2, 3]]), /has 3 columns but this Ensemble was fitted on 4/);
    await assert.rejects(e.score([[1, 2, NaN, 4]]), nadir.DataError);
  });
});

describe('Ensemble of real detectors', () => {
  const have = nadir.IsolationForest && nadir.Mahalanobis && nadir.PCA;
  it('IsolationForest + Mahalanobis + PCA on cardio: AUC floors, explain, save/load', async function () {
    if (!have) this.skip();
    const { X, labels } = shipped('cardio');
    const mk = () => [new nadir.IsolationForest({ trees: 50, seed: 3, threads: 1 }), new nadir.Mahalanobis(), new nadir.PCA()];
    // Measured 0.939 (average), 0.941 (max), 0.946 (median), 0.941 (aom), 0.939 (moa).
    for (const combine of ['average', 'max', 'median', 'aom', 'moa']) {
      const e = await new nadir.Ensemble({ members: mk(), combine, seed: 1 }).fit(X);
      const auc = nadir.rocAuc(await e.score(X), labels);
      assert.ok(auc > 0.92, `${combine}: AUC ${auc}`);
    }
    const e = await new nadir.Ensemble({ members: mk(), threshold: 'spot' }).fit(X);
    const ex = await e.explain(X.sliceRows(0, 10));
    const s = await e.score(X.sliceRows(0, 10));
    for (let i = 0; i < 10; i++) assert.ok(Math.abs(Array.from(ex.row(i)).reduce((a, b) => a + b, 0) - s[i]) < 1e-4);
    const back = nadir.Ensemble.fromBytes(e.toBytes());
    assert.deepStrictEqual(await back.score(X), await e.score(X));
    assert.deepStrictEqual(back.members.map((d) => d.type), ['IsolationForest', 'Mahalanobis', 'PCA']);
  });
});
