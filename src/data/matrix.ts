import { native } from '../binding';
import { DataError } from '../errors';

/** Row-major matrix of 32-bit floats: element (i, j) is `data[i * cols + j]`. */
export class Matrix {
  readonly data: Float32Array;
  readonly rows: number;
  readonly cols: number;

  constructor(data: Float32Array, rows: number, cols: number) {
    if (!(data instanceof Float32Array)) throw new DataError(`Matrix data must be a Float32Array but received ${describe(data)}`);
    if (!Number.isInteger(rows) || rows < 0) throw new DataError(`Matrix rows must be a non-negative integer but received ${rows}`);
    if (!Number.isInteger(cols) || cols < 0) throw new DataError(`Matrix cols must be a non-negative integer but received ${cols}`);
    if (data.length !== rows * cols)
      throw new DataError(`Matrix data has ${data.length} values but ${rows} rows x ${cols} cols needs ${rows * cols}`);
    this.data = data;
    this.rows = rows;
    this.cols = cols;
  }

  /** Row i as a view (no copy). */
  row(i: number): Float32Array {
    return this.data.subarray(i * this.cols, (i + 1) * this.cols);
  }

  /** Rows [start, end) as a view (no copy). */
  sliceRows(start: number, end: number): Matrix {
    const s = Math.max(0, Math.min(this.rows, start));
    const e = Math.max(s, Math.min(this.rows, end));
    return new Matrix(this.data.subarray(s * this.cols, e * this.cols), e - s, this.cols);
  }

  /** Rows picked by index (copy). */
  selectRows(indices: ArrayLike<number>): Matrix {
    const out = new Float32Array(indices.length * this.cols);
    for (let k = 0; k < indices.length; k++) out.set(this.row(indices[k]), k * this.cols);
    return new Matrix(out, indices.length, this.cols);
  }

  toArray(): number[][] {
    const out: number[][] = [];
    for (let i = 0; i < this.rows; i++) out.push(Array.from(this.row(i)));
    return out;
  }

  /** Builds a Matrix from any supported input; see {@link MatrixLike}. */
  static from(input: MatrixLike, cols?: number): Matrix {
    return toMatrix(input, { cols });
  }
}

/** A flat buffer with its shape, row-major. */
export interface ShapedArray {
  data: Float32Array | Float64Array | ArrayLike<number>;
  rows: number;
  cols: number;
}

/**
 * Inputs accepted wherever a detector takes data:
 * - a `Matrix` (used as is),
 * - `number[][]` or an array of typed-array rows,
 * - `{ data, rows, cols }` with a Float32Array (zero-copy), Float64Array or number[],
 * - a flat `Float32Array`/`number[]` when the column count is known (one row or several concatenated rows).
 */
export type MatrixLike = Matrix | ShapedArray | ArrayLike<number>[] | Float32Array | Float64Array | number[];

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v;
}

export interface ToMatrixOptions {
  /** Known column count (the fitted width); lets a flat array be read as rows. */
  cols?: number;
  /** Name used in error messages, default 'X'. */
  name?: string;
}

export function toMatrix(input: MatrixLike, opts: ToMatrixOptions = {}): Matrix {
  const name = opts.name ?? 'X';
  if (input instanceof Matrix) return input;
  if (input === null || input === undefined || typeof input !== 'object')
    throw new DataError(`Expected a Matrix, number[][], typed array or { data, rows, cols } for ${name} but received ${describe(input)}`);

  if (!Array.isArray(input) && !ArrayBuffer.isView(input) && 'data' in input) {
    const { data, rows, cols } = input as ShapedArray;
    if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0)
      throw new DataError(`${name}.rows and ${name}.cols must be non-negative integers but received ${rows} and ${cols}`);
    if (!data || typeof (data as ArrayLike<number>).length !== 'number')
      throw new DataError(`${name}.data must be a Float32Array, Float64Array or number[] but received ${describe(data)}`);
    if (data.length !== rows * cols)
      throw new DataError(`${name}.data has ${data.length} values but ${rows} rows x ${cols} cols needs ${rows * cols}`);
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    return new Matrix(f32, rows, cols);
  }

  if (ArrayBuffer.isView(input) || (Array.isArray(input) && (input.length === 0 || typeof input[0] === 'number'))) {
    const flat = input as ArrayLike<number>;
    if (!(input instanceof Float32Array) && !(input instanceof Float64Array) && !Array.isArray(input))
      throw new DataError(`Expected a Float32Array, Float64Array or number[] for ${name} but received ${describe(input)}`);
    const cols = opts.cols ?? flat.length;
    if (cols === 0 || flat.length % cols !== 0)
      throw new DataError(`${name} is a flat array of ${flat.length} values, which is not a whole number of rows of ${cols} features`);
    const f32 = input instanceof Float32Array ? input : Float32Array.from(flat);
    return new Matrix(f32, flat.length / cols, cols);
  }

  // Array of rows.
  const rowsIn = input as ArrayLike<number>[];
  const rows = rowsIn.length;
  if (rows === 0) return new Matrix(new Float32Array(0), 0, opts.cols ?? 0);
  const first = rowsIn[0];
  if (!first || typeof first.length !== 'number')
    throw new DataError(`${name}[0] must be an array of numbers but received ${describe(first)}`);
  const cols = first.length;
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const r = rowsIn[i];
    if (!r || typeof r.length !== 'number') throw new DataError(`${name}[${i}] must be an array of numbers but received ${describe(r)}`);
    if (r.length !== cols) throw new DataError(`${name} is ragged: row ${i} has ${r.length} values but row 0 has ${cols}`);
    for (let j = 0; j < cols; j++) {
      const v = r[j];
      if (typeof v !== 'number') throw new DataError(`${name}[${i}][${j}] must be a number but received ${describe(v)}`);
      data[i * cols + j] = v;
    }
  }
  return new Matrix(data, rows, cols);
}

/** Throws a DataError naming the row and column of the first NaN or +-Inf. */
export function assertFinite(m: Matrix, name = 'X', columns?: string[]): void {
  const k = native.firstNonFinite(m.data);
  if (k >= 0) {
    const i = Math.floor(k / m.cols);
    const j = k % m.cols;
    const v = m.data[k];
    const col = columns?.[j] ? ` (${columns[j]})` : '';
    throw new DataError(
      `${name} contains ${Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity'} at row ${i}, column ${j}${col}; ` +
        `clean the data or pass the option impute: 'mean' | 'median' | 'zero'`,
    );
  }
}

export type ImputeMethod = 'mean' | 'median' | 'zero';

/** Per-column fill values computed from the finite entries of m. */
export function imputeValues(m: Matrix, method: ImputeMethod): Float32Array {
  const fill = new Float32Array(m.cols);
  if (method === 'zero') return fill;
  for (let j = 0; j < m.cols; j++) {
    const vals: number[] = [];
    for (let i = 0; i < m.rows; i++) {
      const v = m.data[i * m.cols + j];
      if (Number.isFinite(v)) vals.push(v);
    }
    if (vals.length === 0) throw new DataError(`column ${j} has no finite values to impute from`);
    if (method === 'mean') fill[j] = vals.reduce((a, b) => a + b, 0) / vals.length;
    else {
      vals.sort((a, b) => a - b);
      const h = vals.length >> 1;
      fill[j] = vals.length % 2 ? vals[h] : (vals[h - 1] + vals[h]) / 2;
    }
  }
  return fill;
}

/** Returns m with non-finite entries replaced by fill[col]; copies only when something is replaced. */
export function applyImpute(m: Matrix, fill: Float32Array): Matrix {
  if (native.firstNonFinite(m.data) < 0) return m;
  const out = Float32Array.from(m.data);
  for (let k = 0; k < out.length; k++) if (!Number.isFinite(out[k])) out[k] = fill[k % m.cols];
  return new Matrix(out, m.rows, m.cols);
}
