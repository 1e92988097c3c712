// What LstmForecaster and TransformerForecaster share: standardization, native training, the
// per-step score (forecast error normalized per channel), smoothing, events, streaming scorers,
// ONNX Runtime routing and persistence.
import { Matrix, MatrixLike, toMatrix } from '../data/matrix';
import { DataError, OptionError } from '../errors';
import { optEnum, optInt, optNumber } from '../options';
import { Detector, DetectorOptions, DetectorState, expectArray } from '../detectors/base';
import { AbortError, resolveThreads } from '../neural/native-net';
import { ExecutionProvider, OnnxSession, resolveExecutionProvider } from '../neural/session';
import { SeriesEvent, dynamicThreshold, ewma, findEvents } from './events';
import { Standardizer, Timestamps, checkTimestamps, fitStandardizer, standardize } from './series';

export interface ForecasterOptions extends DetectorOptions {
  /** Steps of context: the BPTT length of the LSTM, the attention window of the Transformer; also the warm-up (scores 0). Default 32. */
  window?: number;
  /** Steps ahead the head forecasts in training (the score uses the one-step forecast). Default 1. */
  horizon?: number;
  /** Passes over the training windows. Default 10. */
  epochs?: number;
  /** Windows per mini-batch. Default 32. */
  batchSize?: number;
  /** Adam learning rate. Default 5e-3. */
  learningRate?: number;
  /** Clip the gradients' global L2 norm to this value; 0 = no clipping. Default 1. */
  clipNorm?: number;
  /** Training windows drawn per epoch (seeded, without replacement); 0 = all. Default 0. */
  maxSamples?: number;
  /** EWMA factor applied to the scores, [0, 1): s[t] = smoothing s[t-1] + (1 - smoothing) e[t]; 0 = raw errors. Default 0.7. */
  smoothing?: number;
  /**
   * Engine of the batch `score` / `forecast` / `explain`: 'native' (default: the C++ forward pass,
   * identical to streaming) or 'onnx' (the exported model, `toOnnx()`, in ONNX Runtime). Streaming
   * and `scoreSync` are always native.
   */
  engine?: 'native' | 'onnx';
  /** ONNX Runtime provider with engine 'onnx': 'auto' (default: CUDA when onnxruntime-node's CUDA provider works, else CPU), 'cpu', 'cuda' (throws when unavailable). */
  executionProvider?: ExecutionProvider;
  /** Receives the one-line notice of which provider executionProvider 'auto' chose. Default console.warn. Not saved. */
  logger?: (line: string) => void;
  /** Cancels training; `fit` then rejects with an AbortError. Not saved. */
  signal?: AbortSignal;
}

export const FORECASTER_OPTIONS = ['window', 'horizon', 'epochs', 'batchSize', 'learningRate', 'clipNorm', 'maxSamples', 'smoothing', 'engine', 'executionProvider'] as const;

export interface SeriesInputOptions {
  /** One timestamp per row; checked (strictly increasing, no gaps, regular steps) and copied into events. */
  timestamps?: Timestamps;
}

export interface EventOptions extends SeriesInputOptions {
  /**
   * 'dynamic' (default): Hundman et al.'s nonparametric threshold on these scores (on their square
   * roots, in up to 5 passes, see {@link dynamicThreshold}); 'model': the
   * detector's threshold chosen at fit by its `threshold` option (contamination, or the hybrid
   * methods 'spot' / 'mad' / 'iqr'); or a raw score.
   */
  threshold?: 'dynamic' | 'model' | number;
  /** Runs separated by at most this many steps merge. Default 0. */
  minGap?: number;
  /** Hundman et al.'s pruning of weak events (relative drop between successive peaks). Default 0.13 with 'dynamic', else 0. */
  pruning?: number;
}

/** Persistable state of a streaming scorer. */
export interface ScorerState {
  type: string;
  steps: number;
  ewma: number;
  values: Float32Array;
}

/** Internal model operations each forecaster provides. @internal */
export interface SeqModel {
  /** Forecasts (standardized, T x C; rows before the window are left 0) for a standardized series. */
  predict(Z: Float32Array, T: number, threads: number): Promise<Float32Array>;
  predictSync(Z: Float32Array, T: number): Float32Array;
  /** Streaming state size. */
  stateSize: number;
  /** Writes the forecast of the step about to be pushed (when steps >= window for windowed models), then consumes z. */
  step(state: Float32Array, steps: number, z: Float32Array, pred: Float32Array): boolean;
}

export abstract class SequenceForecaster<O extends ForecasterOptions = ForecasterOptions> extends Detector<O> {
  protected readonly windowValue: number;
  protected readonly horizonValue: number;
  protected readonly train: { epochs: number; batchSize: number; learningRate: number; clipNorm: number; maxSamples: number };
  protected readonly smoothingValue: number;
  private readonly engineValue: 'native' | 'onnx';
  private readonly providerValue: ExecutionProvider;
  private readonly signal?: AbortSignal;
  private readonly logger?: (line: string) => void;
  /** Channels of the fitted series (set before training, so the model is usable inside fit). */
  protected channels = 0;
  protected scaler?: Standardizer;
  protected residualVar?: Float32Array;
  protected params?: Float32Array;
  protected lossHistory?: Float32Array;
  private session?: OnnxSession;

  protected constructor(owner: string, options: O | undefined, known: readonly string[], defaults: { learningRate: number }) {
    const { signal, logger, ...rest } = (options ?? {}) as ForecasterOptions;
    super(owner, (options === undefined ? undefined : rest) as O | undefined, [...FORECASTER_OPTIONS, ...known]);
    const o = this.options;
    this.windowValue = optInt(owner, 'window', o.window, 32, 1, 4096);
    this.horizonValue = optInt(owner, 'horizon', o.horizon, 1, 1, 1024);
    this.train = {
      epochs: optInt(owner, 'epochs', o.epochs, 10, 1, 1e6),
      batchSize: optInt(owner, 'batchSize', o.batchSize, 32, 1, 1 << 20),
      learningRate: optNumber(owner, 'learningRate', o.learningRate, defaults.learningRate, 0, 10, true),
      clipNorm: optNumber(owner, 'clipNorm', o.clipNorm, 1, 0),
      maxSamples: optInt(owner, 'maxSamples', o.maxSamples, 0, 0),
    };
    this.smoothingValue = optNumber(owner, 'smoothing', o.smoothing, 0.7, 0, 0.999);
    this.engineValue = optEnum(owner, 'engine', o.engine, ['native', 'onnx'] as const, 'native');
    this.providerValue = optEnum(owner, 'executionProvider', o.executionProvider, ['auto', 'cpu', 'cuda'] as const, 'auto');
    if (logger !== undefined && typeof logger !== 'function') throw new OptionError(`Expected a function for ${owner} option 'logger'`);
    this.logger = logger;
    if (signal !== undefined && (signal === null || typeof signal !== 'object' || typeof (signal as AbortSignal).aborted !== 'boolean'))
      throw new OptionError(`Expected an AbortSignal for ${owner} option 'signal'`);
    this.signal = signal;
  }

  // ------------------------------------------------------------------ subclasses

  /** The trained parameter blob (layout in native/include/nadir/seq.h). */
  get parameters(): Float32Array {
    this.ensureFitted();
    return this.params!;
  }

  /** Trains on a standardized series; sets this.params. */
  protected abstract trainModel(Z: Float32Array, T: number, channels: number, options: Float64Array, flag: Int32Array): Promise<Float32Array>;
  /** The model operations for the fitted parameters. */
  protected abstract model(): SeqModel;
  /** Shape fields saved in the model file. */
  protected abstract shapeMeta(): Record<string, unknown>;
  protected abstract restoreShape(meta: Record<string, unknown>, channels: number): void;
  /** The exported ONNX graph; see the subclasses. */
  abstract toOnnx(opts?: { opset?: number }): Uint8Array;
  /** Forecasts through ONNX Runtime (standardized T x C, rows before the window 0). */
  protected abstract predictOnnx(session: OnnxSession, Z: Float32Array, m: Matrix): Promise<Float32Array>;

  // ------------------------------------------------------------------ read-only state

  /** The engine of batch scoring ('native' or 'onnx'). */
  get engine(): 'native' | 'onnx' {
    return this.engineValue;
  }

  /** The ONNX Runtime provider batch scoring uses with engine 'onnx' ('cpu' or 'cuda'; chosen on first access). */
  get executionProvider(): 'cpu' | 'cuda' {
    return this.onnxSession().executionProvider;
  }

  /** Frees the ONNX Runtime session (opened again when needed). */
  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await s.close();
  }

  get window(): number {
    return this.windowValue;
  }
  get horizon(): number {
    return this.horizonValue;
  }
  /** Training loss per epoch (undefined after load if not stored). */
  get history(): Float32Array | undefined {
    return this.lossHistory;
  }
  /** Per-channel variance of the standardized one-step forecast errors on the training series. */
  get residualVariance(): Float32Array {
    this.ensureFitted();
    return this.residualVar!;
  }
  /** Per-channel mean and std of the training series. */
  get standardizer(): Readonly<Standardizer> {
    this.ensureFitted();
    return this.scaler!;
  }

  protected get minFitRows(): number {
    return this.windowValue + this.horizonValue + 1;
  }

  // ------------------------------------------------------------------ contract

  /** Fits on a series (rows = time steps, oldest first). */
  async fit(X: MatrixLike, opts?: SeriesInputOptions): Promise<this> {
    this.checkInputOptions(X, opts);
    return super.fit(X);
  }

  /** Scores every step of a series; the first `window` steps (warm-up) score 0. */
  async score(X: MatrixLike, opts?: SeriesInputOptions): Promise<Float32Array> {
    this.checkInputOptions(X, opts);
    return super.score(X);
  }

  protected async fitMatrix(m: Matrix): Promise<Float32Array> {
    this.scaler = fitStandardizer(m);
    this.channels = m.cols;
    const Z = standardize(m, this.scaler);
    const flag = new Int32Array(1);
    const onAbort = () => { flag[0] = 1; };
    if (this.signal?.aborted) throw new AbortError(`${this.type}.fit was aborted`);
    // A CUDA request that cannot be met fails before training, not at the first score.
    if (this.engineValue === 'onnx' && this.providerValue === 'cuda') resolveExecutionProvider('cuda', this.logger);
    this.signal?.addEventListener('abort', onAbort);
    const threads = resolveThreads(this.threadsValue);
    const o = this.train;
    const opts = Float64Array.from([o.epochs, o.batchSize, this.windowValue, o.learningRate, o.clipNorm, o.maxSamples, this.seed, threads]);
    try {
      this.params = await this.trainModel(Z, m.rows, m.cols, opts, flag);
    } catch (e) {
      if (flag[0]) throw new AbortError(`${this.type}.fit was aborted`);
      throw e;
    } finally {
      this.signal?.removeEventListener('abort', onAbort);
    }
    await this.close();
    const preds = await this.model().predict(Z, m.rows, threads);
    // Residual variance per channel over the steps after the warm-up.
    const C = m.cols;
    const v = new Float64Array(C);
    for (let t = this.windowValue; t < m.rows; t++) for (let c = 0; c < C; c++) v[c] += (Z[t * C + c] - preds[t * C + c]) ** 2;
    const n = m.rows - this.windowValue;
    this.residualVar = Float32Array.from(v, (x) => Math.max(x / n, 1e-6));
    // Threshold and calibration from the steps after the warm-up (whose scores are 0 by definition).
    return this.scoresFrom(Z, preds, m.rows, C).subarray(this.windowValue);
  }

  private checkInputOptions(X: MatrixLike, opts?: SeriesInputOptions): void {
    if (opts === undefined) return;
    if (opts === null || typeof opts !== 'object') throw new OptionError(`${this.type} series options must be an object`);
    for (const k of Object.keys(opts)) if (k !== 'timestamps') throw new OptionError(`Unknown series option '${k}' for ${this.type} (known: timestamps)`);
    if (opts.timestamps !== undefined) checkTimestamps(opts.timestamps, toMatrix(X).rows);
  }

  private checkLength(m: Matrix): void {
    if (m.rows <= this.windowValue)
      throw new DataError(`the series has ${m.rows} rows but this ${this.type} needs more than its window (${this.windowValue}) to score any step`);
  }

  protected async scoreMatrix(m: Matrix): Promise<Float32Array> {
    this.checkLength(m);
    const Z = standardize(m, this.scaler!);
    const preds = await this.forecastStandardized(Z, m);
    return this.scoresFrom(Z, preds, m.rows, m.cols);
  }

  /** Synchronous scoring of a whole series (for one step at a time use `stream()`). */
  protected scoreMatrixSync(m: Matrix): Float32Array {
    this.checkLength(m);
    const Z = standardize(m, this.scaler!);
    return this.scoresFrom(Z, this.model().predictSync(Z, m.rows), m.rows, m.cols);
  }

  /** Per-channel terms of the unsmoothed score: (z - forecast)^2 / residual variance. */
  protected async explainMatrix(m: Matrix): Promise<Float32Array> {
    this.checkLength(m);
    const Z = standardize(m, this.scaler!);
    const preds = await this.forecastStandardized(Z, m);
    const C = m.cols;
    const out = new Float32Array(m.rows * C);
    for (let t = this.windowValue; t < m.rows; t++) for (let c = 0; c < C; c++) out[t * C + c] = (Z[t * C + c] - preds[t * C + c]) ** 2 / this.residualVar![c];
    return out;
  }

  /** One-step forecasts in input units (T x C); warm-up rows are NaN. */
  async forecast(X: MatrixLike): Promise<Matrix> {
    const m = this.prepareInput(X);
    this.checkLength(m);
    const Z = standardize(m, this.scaler!);
    const preds = await this.forecastStandardized(Z, m);
    const C = m.cols;
    const { mean, std } = this.scaler!;
    for (let t = 0; t < m.rows; t++)
      for (let c = 0; c < C; c++) preds[t * C + c] = t < this.windowValue ? NaN : preds[t * C + c] * std[c] + mean[c];
    return new Matrix(preds, m.rows, C);
  }

  /** Scores a series and returns its anomalous intervals (see {@link EventOptions}). */
  async events(X: MatrixLike, opts: EventOptions = {}): Promise<SeriesEvent[]> {
    const { timestamps, threshold = 'dynamic', minGap = 0, pruning } = opts ?? {};
    for (const k of Object.keys(opts ?? {}))
      if (!['timestamps', 'threshold', 'minGap', 'pruning'].includes(k)) throw new OptionError(`Unknown event option '${k}' for ${this.type} (known: timestamps, threshold, minGap, pruning)`);
    const scores = await this.score(X, timestamps !== undefined ? { timestamps } : undefined);
    return this.eventsFromScores(scores, { threshold, minGap, pruning, timestamps });
  }

  /** Events from scores already computed by this detector. */
  eventsFromScores(scores: ArrayLike<number>, opts: EventOptions = {}): SeriesEvent[] {
    const { threshold = 'dynamic', minGap = 0 } = opts;
    let thr: number;
    // Hundman et al. threshold absolute errors; our scores are squared (normalized) errors, so the
    // threshold is chosen on their square roots, where one huge spike does not swamp the rest.
    if (threshold === 'dynamic') thr = dynamicThreshold(Float32Array.from(scores, Math.sqrt), { from: this.windowValue, rounds: 5 }).threshold ** 2;
    else if (threshold === 'model') thr = this.threshold;
    else if (typeof threshold === 'number' && Number.isFinite(threshold)) thr = threshold;
    else throw new OptionError(`Expected 'dynamic', 'model' or a finite number for ${this.type} event option 'threshold' but received ${String(threshold)}`);
    const pruning = opts.pruning ?? (threshold === 'dynamic' ? 0.13 : 0);
    const ev = findEvents(scores, thr, { minGap, pruning, from: this.windowValue });
    if (opts.timestamps !== undefined) {
      const { times } = checkTimestamps(opts.timestamps, scores.length);
      for (const e of ev) {
        e.startTime = times[e.start];
        e.endTime = times[e.end];
        e.peakTime = times[e.peak];
      }
    }
    return ev;
  }

  /** Batches of one stream are steps of one series: they go through one `stream()` scorer in order. */
  sequentialScorer(): (m: Matrix) => Float32Array {
    const scorer = this.stream();
    return (m) => {
      const s = new Float32Array(m.rows);
      for (let i = 0; i < m.rows; i++) s[i] = scorer.push(m.row(i));
      return s;
    };
  }

  /** A stateful scorer: `push(point)` returns that step's score at constant cost; equal to batch scores of the same series. */
  stream(state?: ScorerState): SeriesScorer {
    this.ensureFitted();
    return new SeriesScorer(this, this.model(), state);
  }

  // ------------------------------------------------------------------ shared pieces

  private async forecastStandardized(Z: Float32Array, m: Matrix): Promise<Float32Array> {
    if (this.engineValue === 'native') return this.model().predict(Z, m.rows, resolveThreads(this.threadsValue));
    return this.predictOnnx(this.onnxSession(), Z, m);
  }

  private onnxSession(): OnnxSession {
    this.ensureFitted();
    // One call per series: the LSTM's state runs through the whole series, so no chunking.
    this.session ??= OnnxSession.open(this.toOnnx(), {
      executionProvider: this.providerValue,
      threads: this.threadsValue,
      batchSize: 1 << 24,
      workerThreshold: 2 ** 31 - 1,
      workers: 0,
      ...(this.logger ? { logger: this.logger } : {}),
    });
    return this.session;
  }

  /** Normalized error of one step, rounded to float32; shared by batch and streaming. @internal */
  stepError(Z: ArrayLike<number>, zOff: number, P: ArrayLike<number>, pOff: number, C: number): number {
    const rv = this.residualVar!;
    let s = 0;
    for (let c = 0; c < C; c++) {
      const e = Z[zOff + c] - P[pOff + c];
      s += (e * e) / rv[c];
    }
    return Math.fround(s);
  }

  private scoresFrom(Z: Float32Array, preds: Float32Array, T: number, C: number): Float32Array {
    const out = new Float32Array(T);
    for (let t = this.windowValue; t < T; t++) out[t] = this.stepError(Z, t * C, preds, t * C, C);
    return this.smoothingValue > 0 ? ewma(out, this.smoothingValue, this.windowValue) : out;
  }

  /** @internal */
  get smoothingFactor(): number {
    return this.smoothingValue;
  }

  protected exportState(): DetectorState {
    return {
      meta: { ...this.shapeMeta() },
      arrays: {
        params: this.params!,
        'scaler.mean': this.scaler!.mean,
        'scaler.std': this.scaler!.std,
        residualVar: this.residualVar!,
        ...(this.lossHistory ? { 'history.loss': this.lossHistory } : {}),
      },
    };
  }

  protected importState(state: DetectorState): void {
    const C = this.nFeatures;
    this.channels = C;
    this.restoreShape(state.meta, C);
    this.scaler = { mean: expectArray(state.arrays, 'scaler.mean', Float32Array, C), std: expectArray(state.arrays, 'scaler.std', Float32Array, C) };
    this.residualVar = expectArray(state.arrays, 'residualVar', Float32Array, C);
    this.params = expectArray(state.arrays, 'params', Float32Array);
    const h = state.arrays['history.loss'];
    this.lossHistory = h instanceof Float32Array ? h : undefined;
    void this.close();
    this.model(); // validates the parameter count
  }
}

/** Scores one step at a time; see {@link SequenceForecaster.stream}. */
export class SeriesScorer {
  private readonly values: Float32Array;
  private readonly z: Float32Array;
  private readonly pred: Float32Array;
  private readonly C: number;
  private readonly mean: Float32Array;
  private readonly std: Float32Array;
  private stepsValue = 0;
  private s = NaN;

  constructor(private readonly det: SequenceForecaster, private readonly m: SeqModel, state?: ScorerState) {
    this.C = det.nFeatures;
    this.z = new Float32Array(this.C);
    this.pred = new Float32Array(this.C);
    ({ mean: this.mean, std: this.std } = det.standardizer);
    this.values = new Float32Array(m.stateSize);
    if (state !== undefined) {
      if (!state || state.type !== det.type || !(state.values instanceof Float32Array) || state.values.length !== m.stateSize || !Number.isInteger(state.steps) || state.steps < 0)
        throw new DataError(`the scorer state does not belong to this ${det.type}`);
      this.values.set(state.values);
      this.stepsValue = state.steps;
      this.s = typeof state.ewma === 'number' ? state.ewma : NaN;
    }
  }

  /** Steps pushed so far. */
  get steps(): number {
    return this.stepsValue;
  }

  /** Scores the next step (a number for one channel, or C values); warm-up steps score 0. */
  push(point: number | ArrayLike<number>): number {
    const C = this.C;
    const z = this.z;
    if (typeof point === 'number') {
      if (C !== 1) throw new DataError(`push received one number but this ${this.det.type} has ${C} channels`);
      z[0] = (point - this.mean[0]) / this.std[0];
    } else {
      if (!point || point.length !== C) throw new DataError(`push expects ${C} value(s) but received ${point ? point.length : point}`);
      for (let c = 0; c < C; c++) z[c] = (point[c] - this.mean[c]) / this.std[c];
    }
    for (let c = 0; c < C; c++) if (!Number.isFinite(z[c])) throw new DataError(`push received a non-finite value in channel ${c}`);
    const steps = this.stepsValue;
    this.m.step(this.values, steps, z, this.pred);
    this.stepsValue = steps + 1;
    if (steps < this.det.window) return 0;
    const e = this.det.stepError(z, 0, this.pred, 0, C);
    const a = this.det.smoothingFactor;
    if (a === 0) return e;
    this.s = Number.isNaN(this.s) ? e : a * this.s + (1 - a) * e;
    return Math.fround(this.s);
  }

  /** A copy of the scorer's state, to persist and pass to `detector.stream(state)` later. */
  state(): ScorerState {
    return { type: this.det.type, steps: this.stepsValue, ewma: this.s, values: Float32Array.from(this.values) };
  }
}

