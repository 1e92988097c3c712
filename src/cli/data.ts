// Reads CSV / TSV / JSON-lines tables in batches of rows, with constant memory: the file is read
// in chunks and parsed line by line; nothing but the current chunk and batch is held. Arrow IPC
// files are read one record batch at a time (arrow.ts).
import * as fs from 'fs';
import * as path from 'path';
import { Matrix } from '../data/matrix';
import { UserError } from './args';
import type { ArrowInput } from './arrow';

export type Format = 'csv' | 'tsv' | 'jsonl' | 'arrow';

const UNSUPPORTED: Record<string, string> = {
  '.parquet': 'Parquet',
  '.pq': 'Parquet',
  '.xlsx': 'Excel',
  '.xls': 'Excel',
  '.gz': 'gzip-compressed',
};

export function detectFormat(file: string, explicit?: string): Format {
  if (explicit !== undefined) {
    const f = explicit.toLowerCase();
    if (f === 'csv' || f === 'tsv') return f;
    if (f === 'jsonl' || f === 'ndjson' || f === 'json') return 'jsonl';
    if (f === 'arrow' || f === 'arrows' || f === 'feather' || f === 'ipc') return 'arrow';
    throw new UserError(`--format must be csv, tsv, jsonl or arrow but received '${explicit}'`, 2);
  }
  const ext = path.extname(file).toLowerCase();
  if (UNSUPPORTED[ext])
    throw new UserError(
      `unsupported format: '${file}' looks like ${UNSUPPORTED[ext]}, which nadir does not read; convert it to CSV or Arrow ` +
        `(e.g. with pandas: pd.read_parquet(f).to_feather(out, compression='uncompressed'), or .to_csv(out, index=False))`,
    );
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  if (ext === '.arrow' || ext === '.arrows' || ext === '.feather' || ext === '.ipc') return 'arrow';
  return 'csv';
}

export interface ReaderOptions {
  format?: string;
  /** Label column name; undefined = 'label' when present; false = none. */
  label?: string | false;
  /** Feature columns; default all but the label. */
  columns?: string[];
  /** Feature names a model was fitted on: read these columns, in this order. */
  modelNames?: readonly string[];
  /** Feature count a model was fitted on. */
  nFeatures?: number;
  /** Empty / NA fields allowed (the model imputes). */
  allowMissing?: boolean;
  /** CSV has a header line (default true). */
  header?: boolean;
  /** The label column must exist. */
  requireLabel?: boolean;
}

export interface Batch {
  X: Matrix;
  labels?: Float64Array;
  /** 0-based index of the batch's first data row. */
  first: number;
}

function fileError(file: string, e: NodeJS.ErrnoException): UserError {
  const why =
    e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a directory' : e.code === 'EACCES' ? 'permission denied' : e.message;
  return new UserError(`cannot read '${file}': ${why}`);
}

/** Opens a data file (or '-' for stdin) and reads it in batches of rows. */
export class TableReader {
  readonly format: Format;
  /** Feature column names, in the order of the matrix columns (known after the first batch). */
  columns: string[] = [];
  labelColumn?: string;
  private readonly name: string;

  constructor(readonly file: string, private readonly opts: ReaderOptions = {}) {
    this.format = detectFormat(file, opts.format);
    this.name = file === '-' ? 'stdin' : `'${file}'`;
    if (file !== '-') {
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch (e) {
        throw fileError(file, e as NodeJS.ErrnoException);
      }
      if (st.isDirectory()) throw new UserError(`cannot read '${file}': it is a directory`);
    }
  }

  /** Reads the whole table into one matrix (for fit and bench). */
  async readAll(): Promise<{ X: Matrix; labels?: Float64Array; columns: string[] }> {
    const parts: Batch[] = [];
    let rows = 0;
    for await (const b of this.batches(65536)) {
      parts.push(b);
      rows += b.X.rows;
    }
    if (rows === 0) throw new UserError(`${this.name} has no data rows`);
    const cols = parts[0].X.cols;
    const data = new Float32Array(rows * cols);
    const labels = parts[0].labels ? new Float64Array(rows) : undefined;
    let off = 0;
    for (const p of parts) {
      data.set(p.X.data, off * cols);
      if (labels) labels.set(p.labels!, off);
      off += p.X.rows;
    }
    return { X: new Matrix(data, rows, cols), labels, columns: this.columns };
  }

  async *batches(batchRows: number): AsyncGenerator<Batch> {
    if (this.format === 'arrow') {
      yield* this.arrowBatches(batchRows);
      return;
    }
    const input = this.file === '-' ? process.stdin : fs.createReadStream(this.file, { highWaterMark: 1 << 20 });
    input.setEncoding('utf8');
    let rest = '';
    let lineNo = 0;
    let first = 0;
    let builder: BatchBuilder | undefined;
    let layout: Layout | undefined;
    try {
      for await (const chunk of input as AsyncIterable<string>) {
        // A UTF-8 byte-order mark (spreadsheet exports) is not part of the first column's name.
        const text = lineNo === 0 && rest === '' && chunk.charCodeAt(0) === 0xfeff ? chunk.slice(1) : rest + chunk;
        let start = 0;
        let nl: number;
        while ((nl = text.indexOf('\n', start)) >= 0) {
          lineNo++;
          const line = text.charCodeAt(nl - 1) === 13 ? text.slice(start, nl - 1) : text.slice(start, nl);
          start = nl + 1;
          if (line.length === 0 || (line.length < 8 && line.trim() === '')) continue;
          if (!layout) {
            layout = this.layoutFrom(line, lineNo);
            builder = new BatchBuilder(batchRows, layout.features.length, layout.label >= 0);
            if (layout.headerLine) continue;
          }
          this.parseLine(line, lineNo, layout, builder!);
          if (builder!.rows === batchRows) {
            yield builder!.take(first);
            first += batchRows;
          }
        }
        rest = text.slice(start);
      }
    } catch (e) {
      if (e && (e as NodeJS.ErrnoException).code && !(e instanceof UserError)) throw fileError(this.file, e as NodeJS.ErrnoException);
      throw e;
    } finally {
      if (input !== process.stdin) (input as fs.ReadStream).destroy();
    }
    if (rest.trim() !== '') {
      lineNo++;
      if (!layout) {
        layout = this.layoutFrom(rest, lineNo);
        builder = new BatchBuilder(batchRows, layout.features.length, layout.label >= 0);
        if (!layout.headerLine) this.parseLine(rest, lineNo, layout, builder);
      } else this.parseLine(rest, lineNo, layout, builder!);
    }
    if (!layout) throw new UserError(`${this.name} is empty`);
    if (builder!.rows > 0) yield builder!.take(first);
  }

  /**
   * Arrow IPC: record batches are cut or joined into batches of batchRows rows, copied column by
   * column; one record batch and one output batch are held at a time.
   */
  private async *arrowBatches(batchRows: number): AsyncGenerator<Batch> {
    const A = require('./arrow') as typeof import('./arrow');
    const src: ArrowInput = await A.openArrow(this.file, this.name);
    try {
      const dup = src.names.find((n, j) => src.names.indexOf(n) !== j);
      if (dup !== undefined) throw new UserError(`${this.name} has two columns named '${dup}'`);
      const L = this.resolve(src.names, 0, false);
      for (const j of L.features)
        if (!A.isNumeric(src.types[j]))
          throw new UserError(`column '${src.names[j]}' of ${this.name} is ${src.types[j]}, not a number; select numeric columns with --columns`);
      if (L.label >= 0 && !A.isLabelType(src.types[L.label]))
        throw new UserError(`label column '${src.names[L.label]}' of ${this.name} is ${src.types[L.label]}, not a number (1 = anomaly, 0 = normal)`);
      const cols = L.features.length;
      const b = new BatchBuilder(batchRows, cols, L.label >= 0);
      let first = 0;
      let row = 0; // data rows read so far
      for (;;) {
        let next: IteratorResult<import('apache-arrow').RecordBatch>;
        try {
          next = await src.batches.next();
        } catch (e) {
          throw A.arrowError(this.name, e);
        }
        if (next.done) break;
        const rb = next.value;
        for (let at = 0; at < rb.numRows; ) {
          const n = Math.min(rb.numRows - at, batchRows - b.rows);
          for (let k = 0; k < cols; k++) {
            const col = rb.getChildAt(L.features[k])!;
            A.copyColumn(col, at, n, b.row, b.rows, cols, k);
            if (!this.opts.allowMissing)
              for (let r = 0, o = b.rows * cols + k; r < n; r++, o += cols)
                if (!Number.isFinite(b.row[o]))
                  throw new UserError(
                    `${this.name} row ${row + r + 1}, column '${L.featureNames[k]}' is ${A.isNull(col, at + r) ? 'null' : Number.isNaN(b.row[o]) ? 'NaN' : 'infinite'}; ` +
                      `clean the data or fit with --impute mean|median|zero`,
                  );
          }
          if (L.label >= 0) {
            const col = rb.getChildAt(L.label)!;
            for (let r = 0; r < n; r++) {
              const v = col.get(at + r);
              const x = typeof v === 'boolean' ? (v ? 1 : 0) : v === null ? NaN : Number(v);
              if (!Number.isFinite(x))
                throw new UserError(`${this.name} row ${row + r + 1}, label column '${L.names[L.label]}' is ${v === null ? 'null' : x}, not a number (1 = anomaly, 0 = normal)`);
              b.setLabelAt(b.rows + r, x);
            }
          }
          b.advance(n);
          at += n;
          row += n;
          if (b.rows === batchRows) {
            yield b.take(first);
            first += batchRows;
          }
        }
      }
      if (b.rows > 0) yield b.take(first);
    } finally {
      await src.close();
    }
  }

  // ---------------------------------------------------------------- layout

  private layoutFrom(line: string, lineNo: number): Layout {
    if (this.format === 'jsonl') {
      const v = this.parseJson(line, lineNo);
      if (Array.isArray(v)) {
        const names = Array.from({ length: v.length }, (_, j) => `c${j}`);
        if (this.opts.label) throw new UserError(`${this.name} holds arrays, which have no column '${this.opts.label}'; write objects to use a label column`);
        return this.resolve(names, -1, false);
      }
      return this.resolve(Object.keys(v), -1, false, true);
    }
    const delim = this.format === 'tsv' ? '\t' : ',';
    const fields = line.split(delim);
    const header = this.opts.header !== false;
    const names = header ? fields.map((f) => unquote(f.trim())) : fields.map((_, j) => `c${j}`);
    if (header) {
      const dup = names.find((n, j) => names.indexOf(n) !== j);
      if (dup !== undefined) throw new UserError(`${this.name} has two columns named '${dup}'`);
    }
    return this.resolve(names, lineNo, header);
  }

  private resolve(names: string[], lineNo: number, headerLine: boolean, objects = false): Layout {
    const o = this.opts;
    const where = (n: string) => {
      const j = names.indexOf(n);
      return j;
    };
    const cols = () => (names.length > 12 ? `${names.slice(0, 12).join(', ')}, ... (${names.length} in all)` : names.join(', '));
    let label = -1;
    if (typeof o.label === 'string') {
      label = where(o.label);
      if (label < 0) {
        if (o.requireLabel || !objects)
          throw new UserError(`label column '${o.label}' is not a column of ${this.name}; columns are: ${cols()}`);
      }
    } else if (o.label === undefined) label = where('label');
    if (o.requireLabel && label < 0)
      throw new UserError(`${this.name} has no label column${typeof o.label === 'string' ? ` '${o.label}'` : " 'label'"}; pass --label <column> (columns are: ${cols()})`);
    const labelName = label >= 0 ? names[label] : undefined;
    let featureNames: string[];
    if (o.modelNames) {
      for (const n of o.modelNames)
        if (where(n) < 0) throw new UserError(`${this.name} has no column '${n}', which the model was fitted on; columns are: ${cols()}`);
      featureNames = [...o.modelNames];
    } else if (o.columns) {
      for (const n of o.columns) if (where(n) < 0) throw new UserError(`column '${n}' is not a column of ${this.name}; columns are: ${cols()}`);
      featureNames = o.columns;
    } else {
      featureNames = names.filter((_, j) => j !== label);
    }
    if (labelName !== undefined && featureNames.includes(labelName)) throw new UserError(`the label column '${labelName}' cannot also be a feature column`);
    if (featureNames.length === 0) throw new UserError(`${this.name} has no feature columns`);
    if (o.nFeatures !== undefined && featureNames.length !== o.nFeatures)
      throw new UserError(
        `${this.name} has ${featureNames.length} feature columns but the model was fitted on ${o.nFeatures}; select them with --columns (and --label)`,
      );
    this.columns = featureNames;
    this.labelColumn = labelName;
    void lineNo;
    const features = featureNames.map(where);
    const slot = new Int32Array(names.length).fill(-1);
    features.forEach((j, k) => (slot[j] = k));
    if (label >= 0) slot[label] = -2;
    return { names, width: names.length, features, featureNames, label, headerLine, objects, slot };
  }

  // ---------------------------------------------------------------- rows

  private parseLine(line: string, lineNo: number, L: Layout, b: BatchBuilder): void {
    if (this.format === 'jsonl') {
      const row = b.rowView();
      const v = this.parseJson(line, lineNo);
      if (Array.isArray(v)) {
        if (L.objects) throw new UserError(`${this.name} line ${lineNo} is an array but earlier lines are objects`);
        if (v.length !== L.width) throw new UserError(`${this.name} line ${lineNo} has ${v.length} values but the first line has ${L.width}`);
        for (let k = 0; k < L.features.length; k++) row[k] = this.num(v[L.features[k]], lineNo, L.featureNames[k]);
      } else {
        if (!L.objects) throw new UserError(`${this.name} line ${lineNo} is an object but earlier lines are arrays`);
        for (let k = 0; k < L.featureNames.length; k++) row[k] = this.num(v[L.featureNames[k]], lineNo, L.featureNames[k]);
        if (L.label >= 0) b.setLabel(this.label(v[L.names[L.label]], lineNo, L.names[L.label]));
      }
      b.commit();
      return;
    }
    // Fast path: scan the line once, parsing plain decimals in place; anything unusual in a field
    // (quotes, NA, spaces, too many digits) goes through num() for that field.
    const delim = this.format === 'tsv' ? 9 : 44;
    const slot = L.slot;
    const n = line.length;
    let field = 0;
    let i = 0;
    for (;;) {
      let end = i;
      let v = NaN;
      let ok = false;
      // sign, digits, fraction, exponent
      let j = i;
      let c = line.charCodeAt(j);
      const neg = c === 45;
      if (neg || c === 43) c = line.charCodeAt(++j);
      let m = 0;
      let digits = 0;
      let scale = 0;
      let any = false;
      while (c >= 48 && c <= 57) {
        if (digits < 15) {
          m = m * 10 + (c - 48);
          if (m !== 0) digits++;
        } else scale++;
        any = true;
        c = line.charCodeAt(++j);
      }
      if (c === 46) {
        c = line.charCodeAt(++j);
        while (c >= 48 && c <= 57) {
          if (digits < 15) {
            m = m * 10 + (c - 48);
            scale--;
            if (m !== 0) digits++;
          }
          any = true;
          c = line.charCodeAt(++j);
        }
      }
      if (any && (c === 101 || c === 69)) {
        c = line.charCodeAt(++j);
        const eneg = c === 45;
        if (eneg || c === 43) c = line.charCodeAt(++j);
        let e = 0;
        let edig = false;
        while (c >= 48 && c <= 57 && e < 10000) {
          e = e * 10 + (c - 48);
          edig = true;
          c = line.charCodeAt(++j);
        }
        if (!edig) any = false;
        scale += eneg ? -e : e;
      }
      if (any && (j === n || c === delim) && scale >= -22 && scale <= 22 && m <= 9007199254740991) {
        v = scale < 0 ? m / POW10[-scale] : m * POW10[scale];
        if (neg) v = -v;
        ok = true;
        end = j;
      } else {
        end = line.indexOf(this.format === 'tsv' ? '\t' : ',', i);
        if (end < 0) end = n;
      }
      const k = field < slot.length ? slot[field] : -1;
      if (k >= 0) b.row[b.offset + k] = ok ? v : this.num(line.slice(i, end), lineNo, L.names[field]);
      else if (k === -2) b.setLabel(this.label(line.slice(i, end), lineNo, L.names[field]));
      field++;
      if (end >= n) break;
      i = end + 1;
    }
    if (field !== L.width)
      throw new UserError(`${this.name} line ${lineNo} has ${field} fields but the ${L.headerLine ? 'header' : 'first line'} has ${L.width}`);
    b.commit();
  }

  private parseJson(line: string, lineNo: number): any {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new UserError(`${this.name} line ${lineNo} is not valid JSON`);
    }
    if (v === null || typeof v !== 'object') throw new UserError(`${this.name} line ${lineNo} is not a JSON object or array`);
    return v;
  }

  private num(v: unknown, lineNo: number, col: string): number {
    let x: number;
    if (typeof v === 'number') x = v;
    else if (typeof v === 'string') {
      x = v.length === 0 ? NaN : Number(v);
      if (Number.isNaN(x)) {
        const t = unquote(v.trim());
        if (t === '' || t === 'NA' || t === 'NaN' || t === 'nan' || t === 'null') x = NaN;
        else {
          x = Number(t);
          if (Number.isNaN(x)) throw new UserError(`${this.name} line ${lineNo}, column '${col}': '${t.slice(0, 40)}' is not a number`);
        }
      } else if (x === 0 && v.trim() === '') x = NaN;
    } else if (v === null || v === undefined) x = NaN;
    else throw new UserError(`${this.name} line ${lineNo}, column '${col}': ${JSON.stringify(v).slice(0, 40)} is not a number`);
    if (!Number.isFinite(x) && !this.opts.allowMissing)
      throw new UserError(
        `${this.name} line ${lineNo}, column '${col}' is ${Number.isNaN(x) ? 'empty or not available' : 'infinite'}; ` +
          `clean the data or fit with --impute mean|median|zero`,
      );
    return x;
  }

  private label(v: unknown, lineNo: number, col: string): number {
    if (typeof v === 'boolean') return v ? 1 : 0;
    const x = typeof v === 'number' ? v : typeof v === 'string' ? Number(unquote(v.trim())) : NaN;
    if (!Number.isFinite(x) || (typeof v === 'string' && v.trim() === ''))
      throw new UserError(`${this.name} line ${lineNo}, label column '${col}': ${JSON.stringify(v ?? null).slice(0, 40)} is not a number (1 = anomaly, 0 = normal)`);
    return x;
  }
}

interface Layout {
  names: string[];
  width: number;
  /** Indices of the feature columns in names (CSV field order). */
  features: number[];
  featureNames: string[];
  label: number;
  headerLine: boolean;
  objects: boolean;
  /** Per field: its feature position, -1 unused, -2 the label. */
  slot: Int32Array;
}

const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

const unquote = (s: string) => (s.length >= 2 && s[0] === '"' && s[s.length - 1] === '"' ? s.slice(1, -1) : s);

class BatchBuilder {
  rows = 0;
  /** The batch buffer and the current row's offset in it (for in-place parsing). */
  row: Float32Array;
  offset = 0;
  private data: Float32Array;
  private labels?: Float64Array;
  constructor(private readonly cap: number, private readonly cols: number, withLabels: boolean) {
    this.data = new Float32Array(cap * cols);
    this.row = this.data;
    if (withLabels) this.labels = new Float64Array(cap);
  }
  rowView(): Float32Array {
    return this.data.subarray(this.rows * this.cols, (this.rows + 1) * this.cols);
  }
  setLabel(v: number): void {
    this.labels![this.rows] = v;
  }
  setLabelAt(row: number, v: number): void {
    this.labels![row] = v;
  }
  /** n rows were written in place after the current one (Arrow: column by column). */
  advance(n: number): void {
    this.rows += n;
    this.offset += n * this.cols;
  }
  commit(): void {
    this.rows++;
    this.offset += this.cols;
  }
  take(first: number): Batch {
    const n = this.rows;
    const out: Batch = {
      X: new Matrix(this.data.subarray(0, n * this.cols), n, this.cols),
      labels: this.labels?.subarray(0, n),
      first,
    };
    // New buffers: the batch handed out may still be in use (scored off the main thread).
    this.data = new Float32Array(this.cap * this.cols);
    this.row = this.data;
    this.offset = 0;
    if (this.labels) this.labels = new Float64Array(this.cap);
    this.rows = 0;
    return out;
  }
}
