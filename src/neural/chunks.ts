// Splitting a batch into ONNX Runtime calls and stitching the outputs back: shared by the
// main-thread session and the worker threads (so it must stay free of heavy imports).

export interface Chunk {
  /** First row of the chunk in the batch. */
  start: number;
  /** Rows of the batch in this chunk. */
  rows: number;
  /** Rows fed to the model: equals rows, or the model's fixed batch size (the rest zero padding). */
  fed: number;
}

/** Chunks of at most batchSize rows; with a fixed model batch size every chunk feeds exactly that many. */
export function planChunks(rows: number, batchSize: number, fixedRows = 0): Chunk[] {
  const out: Chunk[] = [];
  const step = fixedRows > 0 ? fixedRows : Math.max(1, batchSize);
  for (let s = 0; s < rows; s += step) {
    const r = Math.min(step, rows - s);
    out.push({ start: s, rows: r, fed: fixedRows > 0 ? fixedRows : r });
  }
  return out;
}

/** The chunk's input: a view when no padding is needed, else a zero-padded copy. */
export function chunkInput(data: Float32Array, cols: number, c: Chunk): Float32Array {
  const view = data.subarray(c.start * cols, (c.start + c.rows) * cols);
  if (c.fed === c.rows) return view;
  const padded = new Float32Array(c.fed * cols);
  padded.set(view);
  return padded;
}

export class OutputError extends Error {}

/** Collects per-chunk outputs (each row-major, any width) into one array per output. */
export class Assembler {
  private readonly out: (Float32Array | undefined)[];
  private readonly widths: number[];
  private single: boolean;

  constructor(private readonly totalRows: number, private readonly names: string[], chunks: number) {
    this.out = names.map(() => undefined);
    this.widths = names.map(() => -1);
    this.single = chunks === 1;
  }

  put(c: Chunk, values: ArrayLike<unknown>[]): void {
    this.names.forEach((name, k) => {
      const data = values[k];
      if (!(data instanceof Float32Array))
        throw new OutputError(`the model's output '${name}' is ${data && (data as object).constructor ? (data as object).constructor.name : typeof data}, not float32`);
      const width = data.length / c.fed;
      if (!Number.isInteger(width) || width === 0)
        throw new OutputError(`the model's output '${name}' has ${data.length} values for ${c.fed} input rows, not a whole number per row`);
      if (this.widths[k] === -1) this.widths[k] = width;
      else if (this.widths[k] !== width) throw new OutputError(`the model's output '${name}' changed its width between batches (${this.widths[k]} then ${width})`);
      if (this.single && c.fed === c.rows) {
        this.out[k] = data; // one call covers the batch: no copy
        return;
      }
      if (!this.out[k]) this.out[k] = new Float32Array(this.totalRows * width);
      this.out[k]!.set(data.subarray(0, c.rows * width), c.start * width);
    });
  }

  /** Output arrays, and each one's values per row. */
  results(): { arrays: Float32Array[]; widths: number[] } {
    return { arrays: this.out.map((a) => a ?? new Float32Array(0)), widths: this.widths };
  }
}
