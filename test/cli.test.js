'use strict';
// End-to-end tests of the `nadir` command, run as a child process in a temporary directory.
const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const nadir = require('..');

const { runCli: run, assertUserError } = require('./helpers');
const CARDIO = path.join(__dirname, 'fixtures', 'cardio.csv');

// The classical detector used here: the first one this build has.
const { availableDetectors } = require('../dist/cli/registry');
const classical = ['isolation-forest', 'ecod', 'mahalanobis', 'pca'].find((n) => availableDetectors().some((d) => d.name === n));

describe('CLI table reader', () => {
  const { TableReader } = require('../dist/cli/data');
  const read = async (text, opts = {}, name = 't.csv') => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nadir-reader-')), name);
    fs.writeFileSync(f, text);
    return new TableReader(f, opts).readAll();
  };

  it('parses numbers exactly as Number() does, in every spelling', async () => {
    const vals = ['0', '-0', '1', '-1', '+2.5', '.5', '5.', '-.25', '1e3', '1E-3', '-2.5e+2', '123456789012345678', '0.004912314661768384',
      '-0.11072935166995092', '3.4028234663852886e38', '1e-40', '  7 ', '"8.5"', '0x1A', '1_000'].filter((v) => !/_/.test(v));
    const r = await read(`a,label\n${vals.map((v, i) => `${v},${i % 2}`).join('\n')}\n`);
    vals.forEach((v, i) => assert.strictEqual(r.X.data[i], Math.fround(Number(v.trim().replace(/"/g, ''))), `'${v}'`));
    assert.deepStrictEqual(Array.from(r.labels), vals.map((_, i) => i % 2));
  });

  it('reads TSV, JSON lines, CRLF, a missing last newline, --columns order and --no-header', async () => {
    const tsv = await read('x\ty\r\n1\t2\r\n3\t4', {}, 't.tsv');
    assert.deepStrictEqual(Array.from(tsv.X.data), [1, 2, 3, 4]);
    const bom = await read('\ufeffx,y\n1,2\n');
    assert.deepStrictEqual(bom.columns, ['x', 'y']);
    const sel = await read('x,y,z\n1,2,3\n', { columns: ['z', 'x'] });
    assert.deepStrictEqual(Array.from(sel.X.data), [3, 1]);
    assert.deepStrictEqual(sel.columns, ['z', 'x']);
    const nh = await read('1,2\n3,4\n', { header: false });
    assert.deepStrictEqual(nh.columns, ['c0', 'c1']);
    const jl = await read('{"b":2,"a":1,"label":1}\n\n{"a":3,"b":4,"label":0}\n', {}, 't.jsonl');
    assert.deepStrictEqual(jl.columns, ['b', 'a']);
    assert.deepStrictEqual(Array.from(jl.X.data), [2, 1, 4, 3]);
    assert.deepStrictEqual(Array.from(jl.labels), [1, 0]);
    const miss = await read('x,y\n1,\nNA,2\n', { allowMissing: true });
    assert.ok(Number.isNaN(miss.X.data[1]) && Number.isNaN(miss.X.data[2]));
    await assert.rejects(read('x,y\n1,\n'), /line 2, column 'y' is empty or not available/);
    await assert.rejects(read('x,x\n1,2\n'), /two columns named 'x'/);
    await assert.rejects(read('{"a":1}\n[1]\n', {}, 't.jsonl'), /line 2 is an array but earlier lines are objects/);
    await assert.rejects(read('{"a":1}\n{oops\n', {}, 't.jsonl'), /line 2 is not valid JSON/);
    await assert.rejects(read(''), /is empty/);
    await assert.rejects(read('x,y\n'), /has no data rows/);
  });
});

describe('nadir CLI', function () {
  let dir;
  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nadir-cli-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const inDir = (f) => path.join(dir, f);

  it('prints help for the tool and every command', () => {
    const top = run(['--help']);
    assert.strictEqual(top.code, 0);
    assert.match(top.out, /Commands:/);
    for (const cmd of ['fit', 'score', 'eval', 'bench', 'report', 'demo']) {
      const r = run([cmd, '--help']);
      assert.strictEqual(r.code, 0, `${cmd} --help failed: ${r.err}`);
      assert.match(r.out, new RegExp(`Usage: nadir ${cmd}`));
      assert.strictEqual(r.err, '');
    }
    assertUserError(run(['frobnicate']), /unknown command 'frobnicate'/);
    assertUserError(run(['score', '--bogus']), /unknown option --bogus for 'nadir score'/);
  });

  describe('fit -> score -> eval on shipped data', function () {
    before(function () {
      if (!classical) this.skip();
    });

    it('fits, scores in input order (same scores as the library), and evaluates', async () => {
      const model = inDir('m.nadir');
      const fit = run(['fit', CARDIO, '--detector', classical, '--seed', '7', '--threads', '1', '-o', model]);
      assert.strictEqual(fit.code, 0, fit.err);
      assert.match(fit.out, /fitted on 1831 rows x 21 features/);
      assert.strictEqual(fit.err, '', 'no progress output when stderr is not a terminal');
      assert.ok(fs.existsSync(model));

      const scores = inDir('scores.csv');
      const sc = run(['score', model, CARDIO, '--predict', '--batch-size', '500', '-o', scores]);
      assert.strictEqual(sc.code, 0, sc.err);
      const lines = fs.readFileSync(scores, 'utf8').trim().split('\n');
      assert.strictEqual(lines[0], 'score,anomaly');
      assert.strictEqual(lines.length, 1832);

      const det = nadir.loadDetector(model);
      assert.deepStrictEqual(det.featureNames, nadir.readCsv(CARDIO).columns);
      const { X, labels } = nadir.readCsv(CARDIO);
      const expected = await det.score(X);
      lines.slice(1).forEach((l, i) => {
        const [s, a] = l.split(',');
        assert.strictEqual(Math.fround(Number(s)), expected[i], `row ${i}`);
        assert.strictEqual(Number(a), expected[i] > det.threshold ? 1 : 0);
      });

      const ev = run(['eval', model, CARDIO, '--label', 'label']);
      assert.strictEqual(ev.code, 0, ev.err);
      const auc = Number(/ROC-AUC\s+([\d.]+)/.exec(ev.out)[1]);
      assert.ok(Math.abs(auc - nadir.rocAuc(expected, labels)) < 1e-4);
      assert.ok(auc > 0.7, `ROC-AUC ${auc}`);
      assert.match(ev.out, /precision [\d.]+\s+recall [\d.]+/);
      const js = JSON.parse(run(['eval', model, CARDIO, '--json']).out);
      assert.ok(Math.abs(js.ap - nadir.averagePrecision(expected, labels)) < 1e-9);
    });

    it('streams from stdin and writes JSON lines', () => {
      const model = inDir('m.nadir');
      const head = fs.readFileSync(CARDIO, 'utf8').split('\n').slice(0, 11).join('\n') + '\n';
      const r = run(['score', model, '-'], { input: head });
      assert.strictEqual(r.code, 0, r.err);
      assert.strictEqual(r.out.trim().split('\n').length, 11);
      const out = inDir('s.jsonl');
      // JSON-lines input: records keyed by the fitted column names, in any key order.
      const recs = nadir.readCsv(CARDIO).X.toArray().slice(0, 5).map((row) => Object.fromEntries(row.map((v, j) => [`f${j}`, v]).reverse()));
      fs.writeFileSync(inDir('in.jsonl'), recs.map((o) => JSON.stringify(o)).join('\n') + '\n');
      const j = run(['score', model, inDir('in.jsonl'), '--predict', '-o', out]);
      assert.strictEqual(j.code, 0, j.err);
      const rows = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.strictEqual(rows.length, 5);
      const csvScores = r.out.trim().split('\n').slice(1, 6).map(Number);
      rows.forEach((o, i) => {
        assert.strictEqual(o.score, csvScores[i]);
        assert.ok(o.anomaly === 0 || o.anomaly === 1);
      });
    });

    it('fails with one clear line, a non-zero exit and no partial output', () => {
      const model = inDir('m.nadir');
      const out = inDir('out.csv');
      const before = new Set(fs.readdirSync(dir));
      const noLeftovers = () => {
        assert.ok(!fs.existsSync(out), 'no output file');
        const extra = fs.readdirSync(dir).filter((f) => !before.has(f));
        assert.deepStrictEqual(extra, [], 'no temp files left');
      };
      assertUserError(run(['score', model, inDir('missing.csv'), '-o', out]), /cannot read '.*missing\.csv': no such file/);
      noLeftovers();
      assertUserError(run(['score', CARDIO, CARDIO, '-o', out]), /not a valid nadir model|not a nadir model/);
      noLeftovers();
      assertUserError(run(['score', inDir('nope.nadir'), CARDIO, '-o', out]), /cannot read model '.*nope\.nadir': no such file/);
      assertUserError(run(['score', model, CARDIO, '--columns', 'f1,zzz', '-o', out]), /column 'zzz' is not a column of/);
      noLeftovers();
      // A bad value far into the file, after earlier batches were already scored and written.
      const lines = fs.readFileSync(CARDIO, 'utf8').split('\n');
      lines[1500] = lines[1500].replace(/^[^,]+/, 'oops');
      fs.writeFileSync(inDir('bad.csv'), lines.join('\n'));
      before.add('bad.csv');
      assertUserError(run(['score', model, inDir('bad.csv'), '--batch-size', '100', '-o', out]), /line 1501, column 'f0': 'oops' is not a number/);
      noLeftovers();
      // Ragged line
      lines[1500] = '1,2,3';
      fs.writeFileSync(inDir('bad.csv'), lines.join('\n'));
      assertUserError(run(['score', model, inDir('bad.csv'), '-o', out]), /line 1501 has 3 fields but the header has 22/);
      noLeftovers();
      assertUserError(run(['eval', model, CARDIO, '--label', 'nolabel']), /label column 'nolabel' is not a column/);
      assertUserError(run(['fit', CARDIO, '--detector', classical, '--contamination', '2', '-o', inDir('x.nadir')]), /contamination/);
      assertUserError(run(['fit', CARDIO, '--detector', classical, '--contaminaton', '0.1', '-o', inDir('x.nadir')]), /Did you mean 'contamination'/);
      assertUserError(run(['fit', CARDIO, '--detector', 'no-such', '-o', inDir('x.nadir')]), /unknown detector 'no-such'; available: /);
      assertUserError(run(['fit', inDir('data.parquet'), '--detector', classical, '-o', inDir('x.nadir')]), /unsupported format.*Parquet.*convert it to CSV/);
      assertUserError(run(['fit', CARDIO, '--detector', classical]), /needs -o/);
      assertUserError(run(['fit', CARDIO, '--detector', classical, '-o', inDir('no/such/dir/m.nadir')]), /directory .* does not exist/);
      assert.ok(!fs.existsSync(inDir('x.nadir')));
    });
  });

  describe('bench, report and demo', function () {
    before(function () {
      if (!classical) this.skip();
    });

    it('bench prints the comparison and writes JSON that report turns into HTML', () => {
      const json = inDir('bench.json');
      const r = run(['bench', CARDIO, '--detectors', classical, '--json', json, '--quiet']);
      assert.strictEqual(r.code, 0, r.err);
      assert.match(r.out, /detector\s+fit\s+batch rows\/s\s+1-row p50\s+1-row p99\s+ROC-AUC\s+AP/);
      const b = JSON.parse(fs.readFileSync(json, 'utf8'));
      assert.strictEqual(b.results[0].detector, classical);
      for (const k of ['fitSeconds', 'rowsPerSec', 'p50Us', 'p99Us', 'rocAuc', 'ap']) assert.ok(Number.isFinite(b.results[0][k]), k);
      const html = inDir('report.html');
      const rep = run(['report', json, '-o', html]);
      assert.strictEqual(rep.code, 0, rep.err);
      const page = fs.readFileSync(html, 'utf8');
      assert.ok((page.match(/<svg /g) || []).length >= 5);
      assert.doesNotMatch(page, /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'self-contained: no scripts, no links');
      assertUserError(run(['report', CARDIO, '-o', html]), /not a JSON file from 'nadir bench --json'/);
      // model + data form
      const rep2 = run(['report', inDir('m.nadir'), CARDIO, '-o', inDir('report2.html')]);
      assert.strictEqual(rep2.code, 0, rep2.err);
      assert.match(fs.readFileSync(inDir('report2.html'), 'utf8'), /ROC curve/);
    });

    it('fits a cascade from part names and scores with it', function () {
      const have = availableDetectors().map((d) => d.name);
      if (!have.includes('cascade')) this.skip();
      const model = inDir('c.nadir');
      const fit = run(['fit', CARDIO, '--detector', 'cascade', '--stages', `${classical},pca`, '--seed', '3', '-o', model]);
      assert.strictEqual(fit.code, 0, fit.err);
      assert.match(fit.out, /Cascade fitted/);
      const ev = run(['eval', model, CARDIO]);
      assert.strictEqual(ev.code, 0, ev.err);
      assert.ok(Number(/ROC-AUC\s+([\d.]+)/.exec(ev.out)[1]) > 0.7);
      assertUserError(run(['fit', CARDIO, '--detector', 'cascade', '--stages', 'cascade,pca', '-o', model]), /itself a Cascade/);
    });

    it('wraps an ONNX model trained elsewhere: --detector onnx --model', async function () {
      if (!nadir.AutoEncoder) this.skip();
      const data = nadir.readCsv(CARDIO);
      const ae = new nadir.AutoEncoder({ seed: 1, epochs: 5, hiddenLayers: [8, 4], threads: 1 });
      await ae.fit(data);
      const onnx = inDir('ae.onnx');
      fs.writeFileSync(onnx, nadir.networkToOnnx(ae.network));
      const model = inDir('onnx.nadir');
      const fit = run(['fit', CARDIO, '--detector', 'onnx', '--model', onnx, '--score', 'output', '--model-output', 'score', '--execution-provider', 'cpu', '-o', model]);
      assert.strictEqual(fit.code, 0, fit.err);
      const sc = run(['score', model, CARDIO]);
      assert.strictEqual(sc.code, 0, sc.err);
      const got = sc.out.trim().split('\n').slice(1).map(Number);
      const want = await ae.score(data.X);
      assert.strictEqual(got.length, want.length);
      for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-4 * Math.max(1, Math.abs(want[i])), `row ${i}: ${got[i]} vs ${want[i]}`);
      assertUserError(run(['fit', CARDIO, '--detector', 'onnx', '--score', 'output', '-o', model]), /needs --model <file\.onnx>/);
    });

    it('demo runs on the shipped data', function () {
      const r = run(['demo']);
      assert.strictEqual(r.code, 0, r.err);
      assert.match(r.out, /nadir demo: cardio\.csv, 1831 rows x 21 features/);
      assert.match(r.out, new RegExp(`${classical}\\s+\\S+ m?s\\s+[\\d.]+ [kM]?`));
    });
  });
  describe('time series', () => {
    it('scores a series across batches exactly as one series (state carried over)', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nadir-cli-series-'));
      const data = path.join(dir, 'series.csv');
      let text = 'value\n';
      for (let i = 0; i < 400; i++) text += (Math.sin(i / 7) + (i === 300 ? 4 : 0)).toFixed(5) + '\n';
      fs.writeFileSync(data, text);
      const model = path.join(dir, 'lstm.nadir');
      const fit = run(['fit', data, '--detector', 'lstm-forecaster', '--window', '16', '--epochs', '2', '--seed', '3', '-o', model]);
      assert.strictEqual(fit.code, 0, fit.err);
      const small = run(['score', model, data, '--batch-size', '37']);
      const whole = run(['score', model, data]);
      assert.strictEqual(small.code, 0, small.err);
      assert.strictEqual(small.out, whole.out);
      const scores = whole.out.trim().split('\n').slice(1).map(Number);
      assert.strictEqual(scores.length, 400);
      // The spike at step 300 stands out, and the state did not restart at batch edges (only the
      // first `window` steps are the warm-up zeros).
      assert.ok(scores[300] > 10 * scores[250], `spike ${scores[300]} vs ${scores[250]}`);
      assert.ok(scores.slice(16).every((v) => v > 0));
    });
  });
});
