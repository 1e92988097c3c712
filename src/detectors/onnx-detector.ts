import * as fs from 'fs';
import { Matrix } from '../data/matrix';
import { DataError, ModelFileError, NadirError, OptionError } from '../errors';
import { reconstructionError } from '../kernels';
import { optEnum } from '../options';
import { MAGIC } from '../io/model-file';
import { OnnxModelInfo, OnnxValueInfo, describeValue, readOnnxInfo } from '../neural/onnx-reader';
import { ExecutionProvider, OnnxSession, RunResult, SESSION_OPTIONS, readSessionOptions } from '../neural/session';
import { Detector, DetectorOptions, DetectorState, detectorFromBytes, expectArray, registerDetector } from './base';

export type OnnxScoreMode = 'reconstruction' | 'output';

export interface OnnxDetectorOptions extends DetectorOptions {
  /** The model input fed with the rows. Default: the model's only input. */
  input?: string;
  /** The model output used for scoring. Default: the model's only output. */
  output?: string;
  /**
   * Required. 'output': the output is the per-row score ([N] or [N, 1]), higher = more anomalous.
   * 'reconstruction': the output is a reconstruction of the (standardized) input, [N, d]; the score is
   * the per-row sum of squared errors.
   */
  score?: OnnxScoreMode;
  /**
   * Standardize rows before the model: `{ mean, std }` per feature, or `true` to learn them from the
   * fit data (std 0 counts as 1). Default false (rows go in as given).
   */
  standardize?: boolean | { mean: ArrayLike<number>; std: ArrayLike<number> };
  /** 'auto' (default): CUDA when onnxruntime-node's CUDA provider works, else CPU; 'cpu'; 'cuda' (throws when unavailable). */
  executionProvider?: ExecutionProvider;
  /** Rows per ONNX Runtime call. Default 8192. */
  batchSize?: number;
  /** Batches of at least this many rows run in worker threads, keeping the event loop free. Default 16384. */
  workerThreshold?: number;
  /** Worker threads for large batches; 0 keeps every batch on the main thread. Default min(threads, 4), 1 on CUDA. */
  workers?: number;
}

const KNOWN = ['input', 'output', 'score', 'standardize', ...SESSION_OPTIONS] as const;
const OWNER = 'OnnxDetector';

function isNadirFile(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString('latin1') === MAGIC;
}

/** Standardization arrays as plain numbers (so options stay JSON-safe in model files), validated. */
function normalizeOptions(o: OnnxDetectorOptions | undefined): OnnxDetectorOptions | undefined {
  if (!o || typeof o !== 'object' || o.standardize === undefined || typeof o.standardize === 'boolean') return o;
  const s = o.standardize as { mean?: unknown; std?: unknown };
  const arr = (name: string, v: unknown): number[] => {
    if (!v || typeof (v as ArrayLike<number>).length !== 'number' || typeof v === 'string')
      throw new OptionError(`Expected an array of numbers for ${OWNER} option 'standardize.${name}' but received ${typeof v}`);
    const a = Array.from(v as ArrayLike<number>, Number);
    a.forEach((x, j) => {
      if (!Number.isFinite(x)) throw new OptionError(`${OWNER} option 'standardize.${name}[${j}]' is ${x}, not a finite number`);
      if (name === 'std' && !(x > 0)) throw new OptionError(`${OWNER} option 'standardize.std[${j}]' is ${x}; standard deviations must be > 0`);
    });
    return a;
  };
  if (typeof s !== 'object' || s === null || Array.isArray(s))
    throw new OptionError(`Expected true, false or { mean, std } for ${OWNER} option 'standardize' but received ${Array.isArray(s) ? 'an array' : String(s)}`);
  const extra = Object.keys(s).filter((k) => k !== 'mean' && k !== 'std');
  if (extra.length) throw new OptionError(`Unknown key '${extra[0]}' in ${OWNER} option 'standardize' (expected mean and std)`);
  const mean = arr('mean', s.mean);
  const std = arr('std', s.std);
  if (mean.length !== std.length || mean.length === 0)
    throw new OptionError(`${OWNER} option 'standardize' has ${mean.length} means and ${std.length} standard deviations; both need one per feature`);
  return { ...o, standardize: { mean, std } };
}

/**
 * Wraps an ONNX model trained elsewhere (for example exported from PyTorch) as a nadir detector.
 * `fit(X)` only calibrates (threshold, normalize) from the model's scores on X; scoring runs in
 * ONNX Runtime (onnxruntime-node), large batches in worker threads.
 */
export class OnnxDetector extends Detector<OnnxDetectorOptions> {
  readonly type = 'OnnxDetector';
  private readonly mode: OnnxScoreMode;
  private model?: Uint8Array;
  private info?: OnnxModelInfo;
  private inputInfo?: OnnxValueInfo;
  private outputInfo?: OnnxValueInfo;
  /** The model's batch size when it is fixed (the last chunk gets zero padding), else 0. */
  private fixedRows = 0;
  /** The model's feature count when its input fixes it, else 0. */
  private modelWidth = 0;
  private mean?: Float32Array;
  private std?: Float32Array;
  private onnx?: OnnxSession;

  /** Options only; the model comes from `OnnxDetector.load(pathOrBytes, options)`. */
  constructor(options?: OnnxDetectorOptions) {
    super(OWNER, normalizeOptions(options), KNOWN);
    const o = this.options;
    if (o.score === undefined)
      throw new OptionError(`${OWNER} needs the option 'score': 'output' when the model's output is the per-row score, or 'reconstruction' when it reconstructs its input`);
    this.mode = optEnum(OWNER, 'score', o.score, ['reconstruction', 'output'] as const, 'output');
    for (const k of ['input', 'output'] as const)
      if (o[k] !== undefined && (typeof o[k] !== 'string' || o[k] === '')) throw new OptionError(`Expected a non-empty string for ${OWNER} option '${k}' but received ${String(o[k])}`);
    if (o.standardize !== undefined && typeof o.standardize !== 'boolean' && typeof o.standardize !== 'object')
      throw new OptionError(`Expected true, false or { mean, std } for ${OWNER} option 'standardize' but received ${String(o.standardize)}`);
    readSessionOptions(OWNER, o as Record<string, unknown>); // validates now, not at first use
  }

  /**
   * An ONNX model (file path or bytes) wrapped with `options` (unfitted: call fit to calibrate), or,
   * given a nadir model file saved from an OnnxDetector and no options, that fitted detector.
   */
  static load<T extends Detector>(this: { prototype: T; name: string }, pathOrBytes: string | Uint8Array, options?: OnnxDetectorOptions): T {
    let bytes: Uint8Array;
    const source = typeof pathOrBytes === 'string' ? `'${pathOrBytes}'` : 'the ONNX model bytes';
    if (typeof pathOrBytes === 'string') {
      try {
        const b = fs.readFileSync(pathOrBytes);
        bytes = new Uint8Array(b.buffer, b.byteOffset, b.length);
      } catch (e) {
        throw new ModelFileError(`cannot read ${source}: ${(e as Error).message}`);
      }
    } else if (pathOrBytes instanceof Uint8Array) {
      bytes = pathOrBytes;
    } else {
      throw new DataError(`Expected a file path or a Uint8Array for OnnxDetector.load but received ${pathOrBytes === null ? 'null' : typeof pathOrBytes}`);
    }
    if (isNadirFile(bytes)) {
      if (options !== undefined) throw new OptionError(`${source} is a saved nadir model, which carries its own options; load it without options`);
      const det = detectorFromBytes(bytes, source);
      if (!(det instanceof OnnxDetector)) throw new ModelFileError(`${source} holds a ${det.type}, not an OnnxDetector`);
      return det as unknown as T;
    }
    const det = new OnnxDetector(options);
    // Copy: the detector must not alias a caller's buffer that may change later.
    det.attachModel(Uint8Array.from(bytes), source);
    return det as unknown as T;
  }

  /** Metadata of the wrapped model (opsets, producer, inputs and outputs). */
  get modelInfo(): OnnxModelInfo {
    if (!this.info) throw new NadirError('OnnxDetector has no model: create it with OnnxDetector.load(pathOrBytes, options)');
    return this.info;
  }
  /** The model input fed with the rows. */
  get inputName(): string {
    return this.modelInfo && this.inputInfo!.name;
  }
  /** The model output used for scoring. */
  get outputName(): string {
    return this.modelInfo && this.outputInfo!.name;
  }
  /** A copy of the wrapped ONNX model's bytes. */
  get modelBytes(): Uint8Array {
    this.modelInfo;
    return Uint8Array.from(this.model!);
  }
  /** The execution provider in use: 'cpu' or 'cuda' (chosen on first access or first use). */
  get executionProvider(): 'cpu' | 'cuda' {
    return this.getSession().executionProvider;
  }

  /** Frees the ONNX Runtime sessions and ends the worker threads (they are started again when needed). */
  async close(): Promise<void> {
    const s = this.onnx;
    this.onnx = undefined;
    if (s) await s.close();
  }

  private attachModel(bytes: Uint8Array, source: string): void {
    const info = readOnnxInfo(bytes, source);
    const pick = (kind: 'input' | 'output', list: OnnxValueInfo[], wanted: string | undefined): OnnxValueInfo => {
      const names = list.map((v) => `'${v.name}'`).join(', ');
      if (wanted !== undefined) {
        const v = list.find((x) => x.name === wanted);
        if (!v) throw new OptionError(`${OWNER} option '${kind}' is '${wanted}' but the model has no such ${kind}; its ${kind}s are ${names || 'none'}`);
        return v;
      }
      if (list.length !== 1) throw new OptionError(`the model has ${list.length} ${kind}s (${names}); choose one with the ${OWNER} option '${kind}'`);
      return list[0];
    };
    const input = pick('input', info.inputs, this.options.input);
    const others = info.inputs.filter((i) => i !== input);
    if (others.length)
      throw new ModelFileError(`the model needs ${info.inputs.length} inputs (${info.inputs.map(describeValue).join(', ')}); OnnxDetector feeds only one`);
    const output = pick('output', info.outputs, this.options.output);
    for (const [kind, v] of [['input', input], ['output', output]] as const)
      if (v.type !== 'float32') throw new ModelFileError(`the model's ${kind} ${describeValue(v)} is not float32; OnnxDetector works with float32 tensors`);
    const fixed = (d: number | string | null | undefined): number => (typeof d === 'number' && d > 0 ? d : 0);
    if (input.shape && input.shape.length !== 2)
      throw new ModelFileError(`the model's input ${describeValue(input)} has rank ${input.shape.length}; OnnxDetector feeds [rows, features]`);
    const rowsIn = fixed(input.shape?.[0]);
    const width = fixed(input.shape?.[1]);
    if (output.shape) {
      const rowsOut = fixed(output.shape[0]);
      if (rowsIn && rowsOut && rowsIn !== rowsOut) throw new ModelFileError(`the model's input ${describeValue(input)} and output ${describeValue(output)} disagree on the number of rows`);
      if (this.mode === 'output') {
        const ok = output.shape.length === 1 || (output.shape.length === 2 && (output.shape[1] === 1 || fixed(output.shape[1]) === 0));
        if (!ok) throw new ModelFileError(`score 'output' needs a per-row score ([N] or [N, 1]) but the model's output is ${describeValue(output)}; use score: 'reconstruction' if it reconstructs the input`);
      } else {
        if (output.shape.length !== 2) throw new ModelFileError(`score 'reconstruction' needs a [N, features] output but the model's output is ${describeValue(output)}`);
        const wOut = fixed(output.shape[1]);
        if (width && wOut && wOut !== width) throw new ModelFileError(`score 'reconstruction' needs the output as wide as the input, but the model maps ${describeValue(input)} to ${describeValue(output)}`);
      }
    }
    const st = this.options.standardize;
    if (st && typeof st === 'object' && width && st.mean.length !== width)
      throw new OptionError(`${OWNER} option 'standardize' has ${st.mean.length} values per array but the model's input has ${width} features`);
    this.model = bytes;
    this.info = info;
    this.inputInfo = input;
    this.outputInfo = output;
    this.fixedRows = rowsIn;
    this.modelWidth = width;
    this.onnx = undefined;
  }

  /** The ONNX Runtime session (provider chosen on first use; sessions load lazily). */
  private getSession(): OnnxSession {
    if (!this.model) throw new NadirError('OnnxDetector has no model: create it with OnnxDetector.load(pathOrBytes, options)');
    if (!this.onnx) {
      const o = this.options;
      this.onnx = OnnxSession.open(this.model, { executionProvider: o.executionProvider, batchSize: o.batchSize, workerThreshold: o.workerThreshold, workers: o.workers, threads: this.threadsValue });
    }
    return this.onnx;
  }

  private checkWidth(m: Matrix): void {
    if (this.modelWidth && m.cols !== this.modelWidth)
      throw new DataError(`X has ${m.cols} columns but the model's input ${describeValue(this.inputInfo!)} takes ${this.modelWidth}`);
  }

  /** The rows the model sees: standardized when asked. */
  private modelInput(m: Matrix): Float32Array {
    if (!this.mean || !this.std) return m.data;
    const { cols } = m;
    const out = new Float32Array(m.data.length);
    for (let i = 0; i < out.length; i += cols)
      for (let j = 0; j < cols; j++) out[i + j] = (m.data[i + j] - this.mean[j]) / this.std[j];
    return out;
  }

  private toScores(m: Matrix, x: Float32Array, r: RunResult, contributions = false): { scores: Float32Array; contrib?: Float32Array } {
    const out = r.arrays[0];
    const width = r.widths[0];
    const name = this.outputInfo!.name;
    if (this.mode === 'output') {
      if (width !== 1) throw new DataError(`score 'output' needs one value per row but the model's output '${name}' gave ${width}; use score: 'reconstruction' if it reconstructs the input`);
      for (let i = 0; i < out.length; i++)
        if (!Number.isFinite(out[i])) throw new DataError(`the model's output '${name}' is ${out[i]} for row ${i}; scores must be finite`);
      return { scores: out };
    }
    if (width !== m.cols) throw new DataError(`score 'reconstruction' needs a reconstruction as wide as the input (${m.cols}) but the model's output '${name}' has ${width} values per row`);
    const e = reconstructionError(new Matrix(x, m.rows, m.cols), new Matrix(out, m.rows, m.cols), { contributions });
    return { scores: e.scores, contrib: e.contributions?.data };
  }

  protected async fitMatrix(m: Matrix): Promise<Float32Array> {
    if (!this.model) throw new NadirError('OnnxDetector has no model: create it with OnnxDetector.load(pathOrBytes, options)');
    this.checkWidth(m);
    const st = this.options.standardize;
    if (st === true) {
      const { rows, cols, data } = m;
      const mean = new Float64Array(cols);
      const sq = new Float64Array(cols);
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < cols; j++) {
          const v = data[i * cols + j];
          mean[j] += v;
          sq[j] += v * v;
        }
      this.mean = new Float32Array(cols);
      this.std = new Float32Array(cols);
      for (let j = 0; j < cols; j++) {
        const mu = mean[j] / rows;
        const sd = Math.sqrt(Math.max(0, sq[j] / rows - mu * mu));
        this.mean[j] = mu;
        this.std[j] = sd > 1e-12 * Math.max(1, Math.abs(mu)) ? sd : 1;
      }
    } else if (st && typeof st === 'object') {
      if (st.mean.length !== m.cols) throw new DataError(`X has ${m.cols} columns but the ${OWNER} option 'standardize' has ${st.mean.length} values per array`);
      this.mean = Float32Array.from(st.mean);
      this.std = Float32Array.from(st.std);
    } else {
      this.mean = this.std = undefined;
    }
    return (await this.scoreRows(m)).scores;
  }

  private async scoreRows(m: Matrix, contributions = false): Promise<{ scores: Float32Array; contrib?: Float32Array }> {
    const x = this.modelInput(m);
    const s = this.getSession();
    const r = await s.run(this.inputInfo!.name, x, m.rows, m.cols, [this.outputInfo!.name], this.fixedRows);
    return this.toScores(m, x, r, contributions);
  }

  protected async scoreMatrix(m: Matrix): Promise<Float32Array> {
    this.checkWidth(m);
    return (await this.scoreRows(m)).scores;
  }

  /** Synchronous scoring through onnxruntime-node's blocking session: tens of microseconds per row. */
  protected scoreMatrixSync(m: Matrix): Float32Array {
    this.checkWidth(m);
    const x = this.modelInput(m);
    const r = this.getSession().runSync(this.inputInfo!.name, x, m.rows, m.cols, [this.outputInfo!.name], this.fixedRows);
    return this.toScores(m, x, r).scores;
  }

  protected async explainMatrix(m: Matrix): Promise<Float32Array> {
    if (this.mode !== 'reconstruction') throw new NadirError(`OnnxDetector explains only with score 'reconstruction' (per-feature squared errors)`);
    this.checkWidth(m);
    return (await this.scoreRows(m, true)).contrib!;
  }

  protected exportState(): DetectorState {
    const arrays: DetectorState['arrays'] = { 'onnx.model': this.model! };
    if (this.mean && this.std) {
      arrays['standardize.mean'] = this.mean;
      arrays['standardize.std'] = this.std;
    }
    return { meta: { input: this.inputInfo!.name, output: this.outputInfo!.name, score: this.mode }, arrays };
  }

  protected importState(state: DetectorState): void {
    const model = expectArray(state.arrays, 'onnx.model', Uint8Array);
    this.attachModel(model, 'the saved ONNX model');
    if (state.meta.input !== this.inputInfo!.name || state.meta.output !== this.outputInfo!.name)
      throw new ModelFileError('the saved input/output names do not match the embedded ONNX model');
    if (state.arrays['standardize.mean'] !== undefined) {
      this.mean = expectArray(state.arrays, 'standardize.mean', Float32Array);
      this.std = expectArray(state.arrays, 'standardize.std', Float32Array, this.mean.length);
    }
  }
}

registerDetector('OnnxDetector', (o) => new OnnxDetector(o));
