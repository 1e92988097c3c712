import * as fs from 'fs';
import { DataError } from '../errors';
import { Matrix } from './matrix';

export interface CsvOptions {
  /** Label column, by name or index; excluded from the features. Default: a column named 'label' if present. Pass false for none. */
  label?: string | number | false;
  /** Feature columns to keep, by name or index. Default: all but the label. */
  columns?: (string | number)[];
  /** The first line is a header (default true). Without one, columns are named c0, c1, ... */
  header?: boolean;
  /** Field separator (default ','). */
  delimiter?: string;
}

export interface CsvData {
  X: Matrix;
  /** Label column as numbers, when there is one. */
  labels?: Float64Array;
  /** Names of the feature columns, in order. */
  columns: string[];
}

/** Reads a numeric CSV file into a Matrix (plus its label column). Empty fields become NaN. */
export function readCsv(file: string, opts: CsvOptions = {}): CsvData {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError(`cannot read CSV file '${file}': ${(e as Error).message}`);
  }
  return parseCsv(text, opts, file);
}

export function parseCsv(text: string, opts: CsvOptions = {}, source = 'CSV input'): CsvData {
  const delim = opts.delimiter ?? ',';
  const lines = text.split(/\r?\n/);
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  if (lines.length === 0) throw new DataError(`${source} is empty`);
  const hasHeader = opts.header !== false;
  const width = lines[0].split(delim).length;
  const names = hasHeader ? lines[0].split(delim).map((s) => s.trim().replace(/^"(.*)"$/, '$1')) : Array.from({ length: width }, (_, j) => `c${j}`);

  const resolve = (c: string | number, what: string): number => {
    if (typeof c === 'number') {
      if (!Number.isInteger(c) || c < 0 || c >= width) throw new DataError(`${what} index ${c} is out of range: ${source} has ${width} columns`);
      return c;
    }
    const j = names.indexOf(c);
    if (j < 0) throw new DataError(`${what} '${c}' is not a column of ${source}; columns are: ${names.join(', ')}`);
    return j;
  };

  let labelIdx = -1;
  if (opts.label !== undefined && opts.label !== false) labelIdx = resolve(opts.label, 'label column');
  else if (opts.label === undefined && hasHeader) labelIdx = names.indexOf('label');

  const featureIdx = opts.columns
    ? opts.columns.map((c) => resolve(c, 'column'))
    : names.map((_, j) => j).filter((j) => j !== labelIdx);
  if (featureIdx.length === 0) throw new DataError(`${source} has no feature columns`);
  if (featureIdx.includes(labelIdx)) throw new DataError(`the label column '${names[labelIdx]}' cannot also be a feature column`);

  const start = hasHeader ? 1 : 0;
  const rows = lines.length - start;
  if (rows <= 0) throw new DataError(`${source} has a header but no data rows`);
  const cols = featureIdx.length;
  const X = new Float32Array(rows * cols);
  const labels = labelIdx >= 0 ? new Float64Array(rows) : undefined;
  const parse = (s: string, line: number, j: number): number => {
    const t = s.trim();
    if (t === '' || t === 'NA' || t === 'NaN' || t === 'nan') return NaN;
    const v = Number(t);
    if (Number.isNaN(v)) throw new DataError(`${source} line ${line + 1}, column '${names[j]}': '${t}' is not a number`);
    return v;
  };
  for (let r = 0; r < rows; r++) {
    const line = start + r;
    const fields = lines[line].split(delim);
    if (fields.length !== width)
      throw new DataError(`${source} line ${line + 1} has ${fields.length} fields but the ${hasHeader ? 'header' : 'first line'} has ${width}`);
    for (let k = 0; k < cols; k++) X[r * cols + k] = parse(fields[featureIdx[k]], line, featureIdx[k]);
    if (labels) labels[r] = parse(fields[labelIdx], line, labelIdx);
  }
  return { X: new Matrix(X, rows, cols), labels, columns: featureIdx.map((j) => names[j]) };
}
