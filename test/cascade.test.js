'use strict';
const assert = require('assert');
const nadir = require('..');
const { synthetic, shipped, tmpFile, maxAbsDiff } = require('./helpers');
const { ZToy, MaxToy, realDetectors } = require('./toy-detectors');
const { native } = require('../dist/binding');

const count = (stage, i) => stage.reduce((a, s) => a + (s === i ? 1 : 0), 0);

describe('Cascade', () => {
  it('a budget caps the rows reaching the last stage on the training data (2 and 3 stages)', async () => {
    const all = synthetic({ rows: 6000, cols: 6, seed: 12 }).X;
    const X = all.sliceRows(0, 3000);
    for (const budget of [0.05, 0.15, 0.3]) {
      const c = await new nadir.Cascade({ stages: [new MaxToy(), new ZToy()], route: { budget } }).fit(X);
      const { stage } = await c.scoreWithStage(X);
      const last = count(stage, 1);
      assert.ok(last <= budget * 3000, `budget ${budget}: ${last} rows reached the last stage`);
      assert.ok(last >= budget * 3000 - 5, `budget ${budget}: only ${last} rows used`);
      assert.strictEqual(c.stats.stages[1].rows, last);
      assert.strictEqual(c.stats.stages[0].rows, 3000);
      assert.strictEqual(c.stats.stages[0].forwarded, last);
    }
    const three = await new nadir.Cascade({ stages: [new MaxToy(), new ZToy({ power: 1 }), new ZToy()], route: { budget: 0.1 } }).fit(X);
    const { stage } = await three.scoreWithStage(X);
    assert.ok(count(stage, 2) <= 300, `${count(stage, 2)}`);
    assert.ok(count(stage, 1) > 0);
    // A fresh sample of the same distribution: the share is the budget up to sampling noise (3 sigma).
    const fresh = all.sliceRows(3000, 6000);
    const c = await new nadir.Cascade({ stages: [new MaxToy(), new ZToy()], route: { budget: 0.15 } }).fit(X);
    const f = count((await c.scoreWithStage(fresh)).stage, 1) / 3000;
    assert.ok(f <= 0.15 + 3 * Math.sqrt((0.15 * 0.85) / 3000), `${f}`);
  });

  it('by default the band straddles the first stage\'s threshold; refit: false keeps fitted stages', async () => {
    const { X } = synthetic({ rows: 4000, cols: 6, seed: 16 });
    const s1 = await new MaxToy({ contamination: 0.1 }).fit(X);
    const s2 = await new ZToy().fit(X);
    const before = await s2.score(X);
    const c = await new nadir.Cascade({ stages: [s1, s2], route: { budget: 0.2 }, refit: false }).fit(X);
    const b = c.routing[0];
    const e = s1.normalize([b.lowRaw, b.highRaw, s1.threshold], 'ecdf');
    // Threshold at the 0.9 quantile: band 0.8 .. 1.0 (clipped at the top).
    assert.ok(Math.abs(e[0] - 0.8) < 0.01 && b.highRaw === Infinity, `band ${e[0]} .. ${e[1]}`);
    const c2 = await new nadir.Cascade({ stages: [new MaxToy({ contamination: 0.3 }), new ZToy()], route: { budget: 0.2 } }).fit(X);
    const e2 = c2.stages[0].normalize([c2.routing[0].lowRaw, c2.routing[0].highRaw], 'ecdf');
    assert.ok(Math.abs(e2[0] - 0.6) < 0.01 && Math.abs(e2[1] - 0.8) < 0.01, `band ${e2[0]} .. ${e2[1]}`);
    assert.deepStrictEqual(await s2.score(X), before, 'refit: false must not refit the stages');
    assert.strictEqual(c.stages[1], s2);
  });

  it('one scale: decided-normal < forwarded < decided-anomalous; forwarded rows ordered by the later stage', async () => {
    const { X, labels } = synthetic({ rows: 3000, cols: 6, seed: 14 });
    const s1 = new MaxToy();
    const s2 = new ZToy();
    const c = await new nadir.Cascade({ stages: [s1, s2], route: { low: 0.6, high: 0.97 }, blend: 1 }).fit(X);
    const { scores, stage } = await c.scoreWithStage(X);
    const first = await s1.score(X);
    const second = await s2.score(X);
    const band = c.routing[0];
    let maxNormal = -Infinity;
    let minAnom = Infinity;
    let fwdMin = Infinity;
    let fwdMax = -Infinity;
    const fwd = [];
    for (let i = 0; i < 3000; i++) {
      assert.ok(scores[i] >= 0 && scores[i] <= 1);
      if (stage[i] === 1) { fwdMin = Math.min(fwdMin, scores[i]); fwdMax = Math.max(fwdMax, scores[i]); fwd.push(i); }
      else if (first[i] <= band.lowRaw) maxNormal = Math.max(maxNormal, scores[i]);
      else minAnom = Math.min(minAnom, scores[i]);
    }
    assert.ok(maxNormal <= band.low && band.low <= fwdMin && fwdMax <= band.high && band.high <= minAnom, `${maxNormal} ${band.low} ${fwdMin} ${fwdMax} ${band.high} ${minAnom}`);
    const share = fwd.length / 3000;
    assert.ok(Math.abs(share - 0.37) < 0.01, `forwarded ${share}`);
    fwd.sort((a, b) => second[a] - second[b]);
    for (let k = 1; k < fwd.length; k++) assert.ok(scores[fwd[k]] >= scores[fwd[k - 1]], 'forwarded rows must follow the last stage');
    assert.ok(nadir.rocAuc(scores, labels) > 0.95, `AUC ${nadir.rocAuc(scores, labels)}`);
    // The whole contract on top of the cascade scale.
    assert.ok(maxAbsDiff(c.scoreSync(X), scores) === 0);
    const flagged = (await c.predict(X)).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(flagged - 300) <= 3, `${flagged}`);
    assert.ok(c.normalize(scores).every((v) => v >= 0 && v <= 1));
  });

  it('save -> load round trip gives identical scores and stages', async () => {
    const { X } = shipped('cardio');
    const real = Object.values(realDetectors());
    const first = real.length ? real[0]() : new MaxToy();
    const c = await new nadir.Cascade({ stages: [first, new nadir.Ensemble({ members: [new ZToy(), new MaxToy()] }), new ZToy()], route: [{ budget: 0.3 }, { low: 0.2, high: 0.9 }], threshold: 'iqr' }).fit(X);
    const r = await c.scoreWithStage(X);
    const f = tmpFile('cas.nadir');
    c.save(f);
    for (const back of [nadir.Cascade.load(f), nadir.loadDetector(f)]) {
      assert.ok(back instanceof nadir.Cascade);
      assert.deepStrictEqual(back.stages.map((d) => d.type), c.stages.map((d) => d.type));
      assert.deepStrictEqual(await back.scoreWithStage(X), r);
      assert.deepStrictEqual(back.scoreWithStageSync(X), r);
      assert.deepStrictEqual(back.routing, c.routing);
      assert.deepStrictEqual(back.thresholdInfo, c.thresholdInfo);
      assert.strictEqual(back.stats.calls, 2);
    }
    c.resetStats();
    assert.strictEqual(c.stats.calls, 0);
  });

  it('explain uses the deciding stage; contributions sum to the cascade score', async () => {
    const { X } = synthetic({ rows: 1000, cols: 5, seed: 15 });
    const c = await new nadir.Cascade({ stages: [new ZToy({ power: 1 }), new ZToy()], route: { low: 0.3, high: 0.95 } }).fit(X);
    const data = Float32Array.from(X.sliceRows(0, 40).data);
    data[7 * 5 + 4] += 30;
    const Q = new nadir.Matrix(data, 40, 5);
    const ex = await c.explain(Q);
    const { scores, stage } = await c.scoreWithStage(Q);
    assert.ok(new Set(stage).size === 2, 'both stages should decide some rows');
    for (let i = 0; i < 40; i++) {
      const row = Array.from(ex.row(i));
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - scores[i]) < 1e-4);
    }
    const r7 = Array.from(ex.row(7));
    assert.strictEqual(r7.indexOf(Math.max(...r7)), 4);
    const bad = await new nadir.Cascade({ stages: [new ZToy(), new MaxToy()], route: { low: 0, high: 1 } }).fit(X);
    await assert.rejects(bad.explain(Q), (e) => e instanceof nadir.NadirError && /stages\[1\] \(MaxToy\) cannot give one/.test(e.message));
  });

  it('scoring reproduces the training scores exactly (native routing), async and sync, small batches on the calling thread or not', async () => {
    const { X } = synthetic({ rows: 2000, cols: 5, seed: 21 });
    for (const syncBelow of [0, 131072]) {
      const c = new nadir.Cascade({ stages: [new MaxToy(), new ZToy({ power: 1 }), new ZToy()], route: [{ budget: 0.4 }, { low: 0.2, high: 0.9 }], blend: 0.6, syncBelow });
      const fitScores = await c.fitForRows(X);
      const r = await c.scoreWithStage(X);
      assert.strictEqual(maxAbsDiff(r.scores, fitScores), 0, `syncBelow ${syncBelow}`);
      assert.deepStrictEqual(c.scoreWithStageSync(X), r);
      assert.ok(count(r.stage, 2) > 0 && count(r.stage, 1) > 0 && count(r.stage, 0) > 0);
      const st = c.stats.stages;
      assert.strictEqual(st[0].decided + st[0].forwarded, 2 * 2000);
      assert.strictEqual(st[1].rows, st[0].forwarded);
      assert.strictEqual(st[0].decidedNormal + st[0].decidedAnomalous, st[0].decided);
    }
  });

  it('the native routing pass rejects inconsistent arguments instead of crashing', () => {
    const q = Float32Array.from({ length: 11 }, (_, k) => k / 10);
    const scores = Float32Array.of(0.1, 0.5, 0.9);
    const band = Float64Array.of(0.2, 0.8, 0.2, 0.8, 0.3);
    const x = new Float32Array(6);
    const ok = native.cascadeRoute(scores, q, 0.5, 0.3, 0.01, band, null, null, null, x, 2, new Float32Array(3), new Uint8Array(3), 0);
    assert.strictEqual(ok.forwarded, 1);
    assert.strictEqual(ok.normal, 1);
    assert.deepStrictEqual(Array.from(ok.rows), [1]);
    const lo = new Float64Array(3);
    assert.throws(() => native.cascadeRoute(scores, q, 0.5, 0.3, 0.01, band, Int32Array.of(0, 1, 3), lo, lo, x, 2, new Float32Array(3), new Uint8Array(3), 1), /rows\[2\] = 3 is outside the 3 output rows/);
    assert.throws(() => native.cascadeRoute(scores, q, 0.5, 0.3, 0.01, band, null, null, null, new Float32Array(5), 2, new Float32Array(3), new Uint8Array(3), 0), /x holds 5 values/);
    assert.throws(() => native.cascadeRoute(scores, q, 0.5, 0.3, 0.01, band, null, null, null, x, 2, new Float32Array(2), new Uint8Array(2), 0), /scores has 3 rows but out only 2/);
    assert.throws(() => native.cascadeRoute(scores, q, 0.5, 0.3, 0.01, Float64Array.of(1, 2), null, null, null, x, 2, new Float32Array(3), new Uint8Array(3), 0), /band/);
  });

  it('chooseFirstStage picks the candidate that agrees with the consensus, from unlabelled rows', async () => {
    class Inverted extends ZToy {
      scoreMatrixSync(m) {
        return super.scoreMatrixSync(m).map((v) => -v);
      }
    }
    const { X, labels } = synthetic({ rows: 1500, cols: 6, seed: 22 });
    const good = new MaxToy();
    const bad = new Inverted();
    const choice = await nadir.chooseFirstStage([bad, good], new ZToy(), X);
    assert.strictEqual(choice.index, 1);
    assert.strictEqual(choice.stage, good);
    assert.strictEqual(choice.agreement.length, 2);
    assert.ok(choice.agreement[1] > 0.9 && choice.agreement[0] < 0.5, JSON.stringify(choice.agreement));
    assert.ok(good.fitted && bad.fitted, 'unfitted candidates are fitted on X');
    const c = await new nadir.Cascade({ stages: [choice.stage, new ZToy()], refit: false }).fit(X);
    assert.ok(nadir.rocAuc(await c.score(X), labels) > 0.9);
    await assert.rejects(nadir.chooseFirstStage([], new ZToy(), X), /non-empty array/);
    await assert.rejects(nadir.chooseFirstStage([good, 3], new ZToy(), X), /candidates\[1\] must be a nadir detector/);
    await assert.rejects(nadir.chooseFirstStage([good], new ZToy(), X, { contamination: 0.9 }), /contamination/);
  });

  it('chooseFirstStage: judges vote without being chosen; maxCost keeps costly candidates out', async () => {
    const { X } = synthetic({ rows: 1500, cols: 6, seed: 22 });
    // Declared costs: 'good' costs as much as the last stage, 'cheap' a tenth of it.
    const withCost = (C, cost) => new (class extends C { get costPerRow() { return this.fitted ? cost : undefined; } })();
    const last = withCost(ZToy, 100);
    const good = withCost(MaxToy, 100);
    const cheap = withCost(ZToy, 10);
    const free = await nadir.chooseFirstStage([good, cheap], last, X, { maxCost: 1e6, judges: [] });
    const capped = await nadir.chooseFirstStage([good, cheap], last, X, { judges: [] });
    assert.deepStrictEqual(free.eligible, [true, true]);
    assert.deepStrictEqual(capped.eligible, [false, true]);
    assert.deepStrictEqual(capped.costShare, [1, 0.1]);
    assert.strictEqual(capped.index, 1, 'the default cap (1/4 of the last stage) excludes the candidate as costly as the last stage');
    assert.deepStrictEqual(capped.agreement, free.agreement, 'the cap changes the choice, not the agreements');
    // None cheap enough: the cheapest ones are chosen from.
    const none = await nadir.chooseFirstStage([good, withCost(MaxToy, 50)], last, X, { judges: [] });
    assert.deepStrictEqual(none.eligible, [false, true]);
    assert.strictEqual(none.index, 1);
    // No estimate (plain toys): every candidate stays eligible.
    const unknown = await nadir.chooseFirstStage([new MaxToy(), new ZToy()], new ZToy(), X, { judges: [] });
    assert.deepStrictEqual(unknown.eligible, [true, true]);
    assert.deepStrictEqual(unknown.costShare, [undefined, undefined]);
    // Judges change the consensus: a judge that agrees with the inverted candidate only (weight 3)
    // moves the choice to it; by default an IsolationForest and ECOD judge.
    class Inverted extends ZToy {
      scoreMatrixSync(m) {
        return super.scoreMatrixSync(m).map((v) => -v);
      }
    }
    const swayed = await nadir.chooseFirstStage([new MaxToy(), new Inverted()], new ZToy(), X, { judges: [new Inverted(), new Inverted(), new Inverted()] });
    assert.strictEqual(swayed.index, 1, JSON.stringify(swayed.agreement));
    const byDefault = await nadir.chooseFirstStage([new MaxToy(), new Inverted()], new ZToy(), X);
    assert.strictEqual(byDefault.index, 0, JSON.stringify(byDefault.agreement));
    const t = (o, re) => assert.rejects(nadir.chooseFirstStage([new MaxToy()], new ZToy(), X, o), re);
    await t({ maxCost: 0 }, /chooseFirstStage option 'maxCost'/);
    await t({ judges: new ZToy() }, /'judges' must be an array of detectors/);
    await t({ judges: [new ZToy(), 'ECOD'] }, /judges\[1\] must be a nadir detector/);
    await t({ judge: [] }, /Unknown option 'judge' for chooseFirstStage/);
  });

  it('costPerRow: deterministic multiply-add-equivalent estimates from the fitted shape', async function () {
    const { X } = synthetic({ rows: 600, cols: 6, seed: 5 });
    const d = 6;
    const fit = (det) => det.fit(X).then(() => det);
    assert.strictEqual(new nadir.Mahalanobis().costPerRow, undefined, 'unfitted: no estimate');
    assert.strictEqual((await fit(new nadir.Mahalanobis())).costPerRow, (d * (d + 1)) / 2 + d);
    assert.strictEqual((await fit(new nadir.Mahalanobis({ method: 'robust', seed: 1 }))).costPerRow, (d * (d + 1)) / 2 + d);
    assert.strictEqual((await fit(new nadir.PCA())).costPerRow, d * d + d);
    assert.strictEqual((await fit(new nadir.PCA({ score: 'reconstruction', components: 2 }))).costPerRow, 2 * 2 * d + d);
    const f = await fit(new nadir.IsolationForest({ trees: 10, seed: 1 }));
    assert.strictEqual(f.costPerRow, 10 * f.depth * (2 + d / 4));
    const h = await fit(new nadir.IsolationForest({ trees: 10, extensionLevel: 2, seed: 1 }));
    assert.strictEqual(h.costPerRow, 10 * h.depth * (10 * d + 20));
    assert.strictEqual((await fit(new nadir.ECOD())).costPerRow, 50 * d * Math.ceil(Math.log2(601)));
    // The weights put searches and tree walks on the neural layers' scale: at 100 features a default
    // IsolationForest or ECOD scores slower than a 64-32 autoencoder (measured: 1.3x and 4.6x on mnist),
    // so chooseFirstStage's default cap keeps them out where PCA on 10 components stays eligible.
    const wide = synthetic({ rows: 1200, cols: 100, seed: 6 }).X;
    const wideAe = new nadir.AutoEncoder({ hiddenLayers: [64, 32], epochs: 1, seed: 1, threads: 1 });
    const choice = await nadir.chooseFirstStage(
      [new nadir.IsolationForest({ seed: 1 }), new nadir.ECOD(), new nadir.PCA({ components: 10 })], wideAe, wide, { judges: [] });
    assert.deepStrictEqual(choice.eligible, [false, false, true], JSON.stringify(choice.costShare));
    assert.strictEqual(choice.index, 2);
    const ae = await fit(new nadir.AutoEncoder({ hiddenLayers: [4, 2], epochs: 1, seed: 1, threads: 1 }));
    assert.strictEqual(ae.costPerRow, 6 * 4 + 4 * 2 + 2 * 4 + 4 * 6);
    const vaeOpts = { encoderLayers: [4], decoderLayers: [4], latentSize: 2, epochs: 1, seed: 1, threads: 1 };
    // Encoder 6x4, mean head 4x2, decoder 2x4 + 4x6; Monte-Carlo: the log-variance head and 3 decoder draws.
    assert.strictEqual((await fit(new nadir.VariationalAutoEncoder(vaeOpts))).costPerRow, 24 + 8 + 8 + 24);
    assert.strictEqual((await fit(new nadir.VariationalAutoEncoder({ ...vaeOpts, score: 'mc', samples: 3 }))).costPerRow, 24 + 8 + 8 + 3 * 32);
    const ens = new nadir.Ensemble({ members: [await fit(new nadir.PCA()), await fit(new nadir.Mahalanobis())], refit: false });
    await ens.fit(X);
    assert.strictEqual(ens.costPerRow, d * d + d + (d * (d + 1)) / 2 + d);
  });

  it('bad options are named', () => {
    const t = (o, re) => assert.throws(() => new nadir.Cascade(o), (e) => e instanceof nadir.OptionError && re.test(e.message), re.source);
    t(null, /Cascade options must be an object/);
    t({ stages: [new ZToy()] }, /needs at least 2 detectors/);
    t({ stages: 'ZToy' }, /'stages' must be an array of detectors/);
    t({ stages: [new ZToy(), 3] }, /'stages\[1\]' must be a nadir detector/);
    t({ stages: [new ZToy(), new ZToy()], route: { budget: 0 } }, /option 'route' field 'budget' must be a share of rows in \(0, 1\]/);
    t({ stages: [new ZToy(), new ZToy()], route: { low: 0.9, high: 0.5 } }, /field 'high' must be a quantile in \[low = 0\.9, 1\]/);
    t({ stages: [new ZToy(), new ZToy()], route: { budget: 0.1, low: 0.2 } }, /unknown field 'low'/);
    t({ stages: [new ZToy(), new ZToy()], route: { share: 0.1 } }, /must be \{ low, high \} \(quantile band\) or \{ budget, high\? \}/);
    t({ stages: [new ZToy(), new ZToy(), new ZToy()], route: [{ budget: 0.1 }] }, /'route' has 1 entries but 3 stages need 2/);
    t({ stages: [new ZToy(), new ZToy()], blend: 1.5 }, /Expected a number in \[0, 1\] for Cascade option 'blend' but received 1\.5/);
    t({ stages: [new ZToy(), new ZToy()], refit: 'no' }, /Expected true or false for Cascade option 'refit'/);
    t({ stages: [new ZToy(), new ZToy()], syncBelow: -1 }, /Cascade option 'syncBelow'/);
    t({ stages: [new ZToy(), new ZToy()], rout: {} }, /Unknown option 'rout' for Cascade\. Did you mean 'route'\?/);
  });
});

describe('Cascade classical -> autoencoder', () => {
  it('PCA -> AutoEncoder on cardio: budget respected, AUC floor, explain, save/load identical', async function () {
    if (!nadir.PCA || !nadir.AutoEncoder) this.skip();
    const { X, labels } = shipped('cardio');
    const c = await new nadir.Cascade({ stages: [new nadir.PCA(), new nadir.AutoEncoder({ seed: 1, epochs: 20, threads: 1 })], route: { budget: 0.15 } }).fit(X);
    const r = await c.scoreWithStage(X);
    assert.ok(count(r.stage, 1) <= 0.15 * X.rows, `${count(r.stage, 1)} rows reached the autoencoder`);
    // Measured 0.946 (PCA alone 0.950, the autoencoder alone 0.772).
    const auc = nadir.rocAuc(r.scores, labels);
    assert.ok(auc > 0.93, `AUC ${auc}`);
    const ex = await c.explain(X.sliceRows(0, 50));
    assert.strictEqual(ex.cols, X.cols);
    const f = tmpFile('pca-ae.nadir');
    c.save(f);
    const back = nadir.loadDetector(f);
    assert.deepStrictEqual(await back.scoreWithStage(X), r);
    assert.deepStrictEqual(back.stages.map((d) => d.type), ['PCA', 'AutoEncoder']);
  });
});
