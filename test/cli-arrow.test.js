'use strict';
// Apache Arrow IPC input for the `nadir` command: files written here with apache-arrow's writers
// from the shipped cardio data must give exactly the scores of the equivalent CSV.
const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const A = require('apache-arrow');
const { TableReader } = require('../dist/cli/data');
const { availableDetectors } = require('../dist/cli/registry');

const { runCli: run, assertUserError } = require('./helpers');
const CARDIO = path.join(__dirname, 'fixtures', 'cardio.csv');

/** cardio.csv as an Arrow table: f0..f9 Float64 (the CSV text parsed), f10.. Float32, label Int8. */
function cardioTable() {
  const lines = fs.readFileSync(CARDIO, 'utf8').trim().split('\n');
  const names = lines[0].split(',');
  const rows = lines.slice(1).map((l) => l.split(',').map(Number));
  const cols = {};
  names.forEach((n, j) => {
    const v = rows.map((r) => r[j]);
    cols[n] = n === 'label' ? Int8Array.from(v) : j < 10 ? Float64Array.from(v) : Float32Array.from(v);
  });
  return A.tableFromArrays(cols);
}

const classical = ['isolation-forest', 'ecod', 'mahalanobis', 'pca'].find((n) => availableDetectors().some((d) => d.name === n));

describe('CLI: Apache Arrow IPC input', function () {
  let dir;
  const inDir = (f) => path.join(dir, f);
  before(function () {
    if (!classical) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nadir-arrow-'));
    const t = cardioTable();
    fs.writeFileSync(inDir('cardio.arrow'), A.tableToIPC(t, 'file'));
    // Record batches of uneven sizes, none a multiple of --batch-size.
    const parts = [0, 300, 301, 1000, 1831].slice(1).map((end, i, a) => t.slice(i === 0 ? 0 : a[i - 1], end));
    const w = A.RecordBatchStreamWriter.writeAll(parts.flatMap((p) => p.batches));
    fs.writeFileSync(inDir('multi.arrows'), w.toUint8Array(true));
    assert.deepStrictEqual(A.tableFromIPC(fs.readFileSync(inDir('multi.arrows'))).batches.map((b) => b.numRows), [300, 1, 699, 831]);
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  it('fits on Arrow; scores on Arrow (file and multi-batch stream, stdin) equal the CSV scores, in order', () => {
    const model = inDir('m.nadir');
    const fit = run(['fit', inDir('cardio.arrow'), '--detector', classical, '--seed', '7', '--threads', '1', '-o', model]);
    assert.strictEqual(fit.code, 0, fit.err);
    assert.match(fit.out, /fitted on 1831 rows x 21 features.*label column 'label' left out/);
    const csv = run(['score', model, CARDIO, '--predict', '--normalize']);
    assert.strictEqual(csv.code, 0, csv.err);
    assert.strictEqual(csv.out.trim().split('\n').length, 1832);
    const out = inDir('s.csv');
    const fromFile = run(['score', model, inDir('cardio.arrow'), '--predict', '--normalize', '--batch-size', '500', '-o', out]);
    assert.strictEqual(fromFile.code, 0, fromFile.err);
    assert.strictEqual(fs.readFileSync(out, 'utf8'), csv.out);
    const fromStream = run(['score', model, inDir('multi.arrows'), '--predict', '--normalize', '--batch-size', '250']);
    assert.strictEqual(fromStream.code, 0, fromStream.err);
    assert.strictEqual(fromStream.out, csv.out);
    const stdin = run(['score', model, '-', '--format', 'arrow', '--predict', '--normalize'], { input: fs.readFileSync(inDir('multi.arrows')) });
    assert.strictEqual(stdin.code, 0, stdin.err);
    assert.strictEqual(stdin.out, csv.out);
    // A model fitted on the CSV scores the Arrow file identically too.
    const csvModel = inDir('c.nadir');
    assert.strictEqual(run(['fit', CARDIO, '--detector', classical, '--seed', '7', '--threads', '1', '-o', csvModel]).code, 0);
    assert.strictEqual(run(['score', csvModel, inDir('cardio.arrow')]).out, run(['score', model, CARDIO]).out);

    const ev = run(['eval', model, inDir('multi.arrows'), '--json']);
    assert.strictEqual(ev.code, 0, ev.err);
    const evCsv = JSON.parse(run(['eval', model, CARDIO, '--json']).out);
    const evArrow = JSON.parse(ev.out);
    assert.strictEqual(evArrow.rocAuc, evCsv.rocAuc);
    assert.strictEqual(evArrow.ap, evCsv.ap);
    const bench = run(['bench', inDir('cardio.arrow'), '--detectors', classical, '--quiet']);
    assert.strictEqual(bench.code, 0, bench.err);
    assert.match(bench.out, new RegExp(`${classical}\\s`));
  });

  it('a non-numeric column, a truncated or corrupt file: one clear line, non-zero exit, no output file', () => {
    const model = inDir('m.nadir');
    const out = inDir('out.csv');
    const before = new Set(fs.readdirSync(dir));
    const noLeftovers = () => {
      assert.ok(!fs.existsSync(out), 'no output file');
      assert.deepStrictEqual(fs.readdirSync(dir).filter((f) => !before.has(f)), [], 'no temp files left');
    };
    const t = cardioTable();
    const withText = new A.Table({ ...Object.fromEntries(t.schema.fields.map((f) => [f.name, t.getChild(f.name)])), site: A.vectorFromArray(t.toArray().map((_, i) => `s${i % 3}`), new A.Utf8()) });
    fs.writeFileSync(inDir('text.arrow'), A.tableToIPC(withText, 'file'));
    before.add('text.arrow');
    assertUserError(run(['fit', inDir('text.arrow'), '--detector', classical, '-o', inDir('x.nadir')]), /column 'site' of '.*text\.arrow' is Utf8, not a number/);
    assert.ok(!fs.existsSync(inDir('x.nadir')));
    const cols = t.schema.fields.map((f) => f.name).filter((n) => n !== 'label');
    assertUserError(run(['score', model, inDir('text.arrow'), '--columns', [...cols.slice(1), 'site'].join(','), '-o', out]), /column 'site' .* is Utf8, not a number/);
    noLeftovers();
    // Selecting the numeric columns works around it; the label may be any numeric column.
    const ok = run(['score', model, inDir('text.arrow'), '--columns', cols.join(','), '-o', out]);
    assert.strictEqual(ok.code, 0, ok.err);
    fs.unlinkSync(out);

    const bytes = fs.readFileSync(inDir('cardio.arrow'));
    fs.writeFileSync(inDir('cut.arrow'), bytes.subarray(0, bytes.length >> 1));
    const stream = fs.readFileSync(inDir('multi.arrows'));
    fs.writeFileSync(inDir('cut.arrows'), stream.subarray(0, Math.floor(stream.length * 0.8)));
    fs.writeFileSync(inDir('junk.arrow'), 'f0,f1\n1,2\n');
    for (const f of ['cut.arrow', 'cut.arrows', 'junk.arrow']) before.add(f);
    assertUserError(run(['score', model, inDir('cut.arrow'), '-o', out]), /'.*cut\.arrow' is a truncated Arrow IPC file/);
    noLeftovers();
    // Scoring had already written earlier batches when the stream broke off.
    assertUserError(run(['score', model, inDir('cut.arrows'), '--batch-size', '100', '-o', out]), /cannot read '.*cut\.arrows' as Apache Arrow IPC/);
    noLeftovers();
    assertUserError(run(['eval', model, inDir('junk.arrow')]), /cannot read '.*junk\.arrow' as Apache Arrow IPC/);
    // Compressed batches (pyarrow's Feather default): this process can write them with a stand-in
    // codec; the CLI has no LZ4 / ZSTD decoder and says how to write the file instead.
    // (a ZSTD frame magic number in front of the raw bytes: apache-arrow checks for it).
    const ZSTD = A.CompressionType.ZSTD;
    A.compressionRegistry.set(ZSTD, { encode: (x) => Buffer.concat([Buffer.from([40, 181, 47, 253, 0, 0]), x]) });
    try {
      const w = A.RecordBatchFileWriter.writeAll(t.batches, { compressionType: ZSTD });
      fs.writeFileSync(inDir('zstd.feather'), w.toUint8Array(true));
    } finally {
      A.compressionRegistry.set(ZSTD, null);
    }
    before.add('zstd.feather');
    assertUserError(run(['score', model, inDir('zstd.feather'), '-o', out]), /has compressed record batches \(LZ4 or ZSTD\).*compression='uncompressed'/);
    noLeftovers();
    assertUserError(run(['fit', inDir('d.parquet'), '--detector', classical, '-o', inDir('x.nadir')]), /Parquet.*convert it to CSV or Arrow/);
  });

  it('reads ints and floats of every width, dictionaries, nulls as missing values, a boolean label', async () => {
    const t = new A.Table({
      i64: A.vectorFromArray([1n, -2n, 3n], new A.Int64()),
      u8: A.vectorFromArray([1, 2, 255], new A.Uint8()),
      i16: A.vectorFromArray([-300, 0, 300], new A.Int16()),
      half: A.vectorFromArray([0.5, 1.5, -2], new A.Float16()),
      dict: A.vectorFromArray([7.25, 8, 7.25], new A.Dictionary(new A.Float64(), new A.Int32())),
      gaps: A.vectorFromArray([1, null, 3], new A.Float64()),
      bad: A.vectorFromArray([true, false, true], new A.Bool()),
    });
    const f = inDir('types.arrows');
    fs.writeFileSync(f, A.tableToIPC(t, 'stream'));
    const all = await new TableReader(f, { label: 'bad', allowMissing: true }).readAll();
    assert.deepStrictEqual(all.columns, ['i64', 'u8', 'i16', 'half', 'dict', 'gaps']);
    assert.deepStrictEqual(Array.from(all.X.data), [1, 1, -300, 0.5, 7.25, 1, -2, 2, 0, 1.5, 8, NaN, 3, 255, 300, -2, 7.25, 3]);
    assert.deepStrictEqual(Array.from(all.labels), [1, 0, 1]);
    const sel = await new TableReader(f, { columns: ['half', 'i64'], label: 'u8' }).readAll();
    assert.deepStrictEqual(Array.from(sel.X.data), [0.5, 1, 1.5, -2, -2, 3]);
    assert.deepStrictEqual(Array.from(sel.labels), [1, 2, 255]);
    await assert.rejects(new TableReader(f, { label: 'bad' }).readAll(), /row 2, column 'gaps' is null; clean the data or fit with --impute/);
    await assert.rejects(new TableReader(f, {}).readAll(), /column 'bad' of .* is Bool, not a number/);
    await assert.rejects(new TableReader(f, { label: 'nope' }).readAll(), /label column 'nope' is not a column/);
  });
});
