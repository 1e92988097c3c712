'use strict';
const assert = require('assert');
const fs = require('fs');
const nadir = require('..');
const { tmpFile } = require('./helpers');

describe('Matrix and data adapters', () => {
  it('wraps a row-major Float32Array without copying', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const m = nadir.toMatrix({ data, rows: 2, cols: 3 });
    assert.strictEqual(m.data, data);
    assert.deepStrictEqual(Array.from(m.row(1)), [4, 5, 6]);
  });

  it('converts number[][], Float64Array with a shape, and flat rows', () => {
    assert.deepStrictEqual(nadir.toMatrix([[1, 2], [3, 4]]).toArray(), [[1, 2], [3, 4]]);
    const m = nadir.toMatrix({ data: new Float64Array([1, 2, 3, 4]), rows: 2, cols: 2 });
    assert.ok(m.data instanceof Float32Array);
    assert.strictEqual(nadir.toMatrix([1, 2, 3, 4], { cols: 2 }).rows, 2);
    assert.strictEqual(nadir.toMatrix(new Float32Array(3)).rows, 1);
  });

  it('names the problem in bad input', () => {
    assert.throws(() => nadir.toMatrix([[1, 2], [3]]), /ragged: row 1 has 1 values but row 0 has 2/);
    assert.throws(() => nadir.toMatrix({ data: new Float32Array(5), rows: 2, cols: 3 }), /has 5 values but 2 rows x 3 cols needs 6/);
    assert.throws(() => nadir.toMatrix([1, 2, 3], { cols: 2 }), /not a whole number of rows of 2 features/);
    assert.throws(() => nadir.toMatrix('abc'), /Expected a Matrix/);
    assert.throws(() => nadir.toMatrix([[1, 'x']]), /X\[0\]\[1\] must be a number but received string/);
    assert.throws(() => nadir.assertFinite(nadir.toMatrix([[1, 2], [3, NaN]])), /NaN at row 1, column 1/);
    assert.throws(() => nadir.assertFinite(nadir.toMatrix([[1, -Infinity]])), /-Infinity at row 0, column 1/);
  });

  it('reads CSV files with a label column and column selection', () => {
    const f = tmpFile('a.csv');
    fs.writeFileSync(f, 'a,b,label,c\n1,2,0,3\n4,,1,6\n');
    const d = nadir.readCsv(f);
    assert.deepStrictEqual(d.columns, ['a', 'b', 'c']);
    assert.deepStrictEqual(Array.from(d.labels), [0, 1]);
    assert.ok(Number.isNaN(d.X.data[4]));
    const sel = nadir.readCsv(f, { columns: ['c', 'a'] });
    assert.deepStrictEqual(sel.X.toArray(), [[3, 1], [6, 4]]);
    assert.throws(() => nadir.readCsv(f, { label: 'nope' }), /label column 'nope' is not a column/);
    fs.writeFileSync(f, 'a,b\n1,2\n3\n');
    assert.throws(() => nadir.readCsv(f), /line 3 has 1 fields but the header has 2/);
    fs.writeFileSync(f, 'a,b\n1,zz\n');
    assert.throws(() => nadir.readCsv(f), /'zz' is not a number/);
    fs.writeFileSync(f, '');
    assert.throws(() => nadir.readCsv(f), /is empty/);
    assert.throws(() => nadir.readCsv(f + '.missing'), /cannot read CSV file/);
  });

  it('loads the shipped datasets', () => {
    const { X, labels } = nadir.readCsv(require('path').join(__dirname, 'fixtures', 'cardio.csv'));
    assert.strictEqual(X.rows, 1831);
    assert.strictEqual(X.cols, 21);
    assert.strictEqual(labels.reduce((a, b) => a + b, 0), 176);
  });

  it('computes ROC-AUC and average precision', () => {
    assert.strictEqual(nadir.rocAuc([0.1, 0.2, 0.9, 0.8], [0, 0, 1, 1]), 1);
    assert.strictEqual(nadir.rocAuc([1, 1, 1, 1], [0, 1, 0, 1]), 0.5);
    assert.ok(Math.abs(nadir.rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) - 0.75) < 1e-12);
    assert.ok(Math.abs(nadir.averagePrecision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) - 0.8333333333) < 1e-9);
    assert.throws(() => nadir.rocAuc([1, 2], [0, 0]), /both anomalies/);
  });
});
