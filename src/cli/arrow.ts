// Apache Arrow IPC input: the file format (.arrow, Feather v2) and the stream format (.arrows),
// read one record batch at a time through apache-arrow, the reference JS implementation. Files
// are opened as file handles, so the file format is read by random access (footer, then each
// batch at its offset) and never held whole.
import * as fs from 'fs';
import type * as Arrow from 'apache-arrow';
import { UserError } from './args';

let lib: typeof Arrow | undefined;
// Loaded on first use: reading CSV should not pay for it.
const arrow = (): typeof Arrow => (lib ??= require('apache-arrow') as typeof Arrow);

export interface ArrowInput {
  names: string[];
  types: Arrow.DataType[];
  batches: AsyncIterator<Arrow.RecordBatch>;
  close(): Promise<void>;
}

/** A failure inside apache-arrow (bad or truncated bytes) as one line naming the input. */
export function arrowError(name: string, e: unknown): UserError {
  if (e instanceof UserError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'EISDIR' || code === 'ENOENT' || code === 'EACCES') return new UserError(`cannot read ${name}: ${(e as Error).message}`);
  const msg = String((e as Error)?.message ?? e).split('\n')[0].slice(0, 160);
  if (/compressed but codec not found/.test(msg))
    return new UserError(
      `${name} has compressed record batches (LZ4 or ZSTD), which nadir cannot read; write it uncompressed ` +
        `(pyarrow: feather.write_feather(t, f, compression='uncompressed'); pandas: df.to_feather(f, compression='uncompressed'))`,
    );
  return new UserError(`cannot read ${name} as Apache Arrow IPC (truncated or not an Arrow file?): ${msg}`);
}

export async function openArrow(file: string, name: string): Promise<ArrowInput> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    let reader: Arrow.RecordBatchReader | Arrow.AsyncRecordBatchStreamReader | Arrow.AsyncRecordBatchFileReader;
    if (file === '-') {
      reader = await arrow().RecordBatchReader.from(process.stdin as unknown as AsyncIterable<Uint8Array>);
    } else {
      fh = await fs.promises.open(file, 'r');
      const head = Buffer.alloc(6);
      const { bytesRead } = await fh.read(head, 0, 6, 0);
      if (bytesRead === 0) throw new UserError(`${name} is empty`);
      if (head.toString('latin1', 0, 4) === 'FEA1')
        throw new UserError(`${name} is Feather version 1, which nadir does not read; write Feather version 2 (Arrow IPC), e.g. pyarrow.feather.write_feather(t, f)`);
      if (head.toString('latin1') === 'ARROW1') {
        // The file format ends with its footer and the magic again: without them it was cut short.
        const { size } = await fh.stat();
        const tail = Buffer.alloc(6);
        await fh.read(tail, 0, 6, Math.max(0, size - 6));
        if (size < 12 || tail.toString('latin1') !== 'ARROW1')
          throw new UserError(`${name} is a truncated Arrow IPC file (it does not end with the footer and 'ARROW1')`);
      }
      reader = await arrow().RecordBatchReader.from(fh);
    }
    await reader.open();
    const schema = reader.schema;
    if (!schema) throw new UserError(`${name} holds no Arrow schema`);
    const it = (reader as AsyncIterable<Arrow.RecordBatch>)[Symbol.asyncIterator]();
    return {
      names: schema.fields.map((f) => f.name),
      types: schema.fields.map((f) => f.type),
      batches: it,
      close: async () => {
        try {
          await reader.cancel();
        } catch {
          /* closing after an error */
        }
        try {
          await fh?.close();
        } catch {
          /* already closed by the reader */
        }
      },
    };
  } catch (e) {
    try {
      await fh?.close();
    } catch {
      /* already closed */
    }
    throw arrowError(name, e);
  }
}

function valueType(t: Arrow.DataType): Arrow.DataType {
  const A = arrow();
  return A.DataType.isDictionary(t) ? (t as Arrow.Dictionary).dictionary : t;
}

/** Int or Float of any width, plain or dictionary-encoded. */
export function isNumeric(t: Arrow.DataType): boolean {
  const A = arrow();
  const v = valueType(t);
  return A.DataType.isInt(v) || A.DataType.isFloat(v);
}

/** A label may also be a boolean column. */
export function isLabelType(t: Arrow.DataType): boolean {
  return isNumeric(t) || arrow().DataType.isBool(valueType(t));
}

const isValid = (bitmap: Uint8Array, i: number) => ((bitmap[i >> 3] >> (i & 7)) & 1) === 1;

/**
 * Copies rows [from, from + n) of column `col` into column k of a row-major Float32Array with `width`
 * columns, starting at row `outRow`. Nulls become NaN.
 */
export function copyColumn(col: Arrow.Vector, from: number, n: number, out: Float32Array, outRow: number, width: number, k: number): void {
  const A = arrow();
  const d = col.data[0];
  const t = d.type;
  let o = outRow * width + k;
  // Plain 8-64 bit ints and 32/64-bit floats: straight from the value buffer.
  const direct = (A.DataType.isInt(t) || (A.DataType.isFloat(t) && (t as Arrow.Float).precision !== A.Precision.HALF)) && col.data.length === 1;
  if (direct) {
    const values = d.values as ArrayLike<number | bigint>;
    const base = d.offset + from;
    const big = values instanceof BigInt64Array || values instanceof BigUint64Array;
    const bitmap = d.nullCount > 0 ? d.nullBitmap : undefined;
    for (let r = 0; r < n; r++, o += width) {
      if (bitmap && !isValid(bitmap, base + r)) out[o] = NaN;
      else out[o] = big ? Number(values[base + r]) : (values[base + r] as number);
    }
    return;
  }
  // Half floats, dictionaries: through the vector's own accessor.
  for (let r = 0; r < n; r++, o += width) {
    const v = col.get(from + r);
    out[o] = v === null || v === undefined ? NaN : Number(v);
  }
}

/** True when row i of the column is null (for error messages). */
export function isNull(col: Arrow.Vector, i: number): boolean {
  return col.get(i) === null;
}
