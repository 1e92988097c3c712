import { native } from '../binding';
import { Matrix, MatrixLike, ImputeMethod, toMatrix, assertFinite, imputeValues, applyImpute } from '../data/matrix';
import { DataError, ModelFileError, NadirError, NotFittedError, OptionError } from '../errors';
import { checkOptionNames, optEnum, optInt, optNumber } from '../options';
import { decodeModel, encodeModel, readModelFile, writeFileAtomic, ModelContent, TypedArray } from '../io/model-file';
import { ScoreStream, ScoreStreamOptions, ScoredRecord, StreamInput, scoreIterable } from '../stream/score-stream';
import { CALIBRATION_METHODS, CalibrationMethod, calibrate, ecdfAt, erf } from '../hybrid/calibration';
import { ParsedThreshold, ScoreSource, ScoreSummary, ThresholdInfo, ThresholdSpec, computeThreshold, parseThreshold, summarize, tailSize } from '../hybrid/thresholds';

/** Fit input with its column names (what `readCsv` returns): the names are kept as `featureNames`. */
export interface NamedData {
  X: MatrixLike;
  columns?: readonly string[];
}

/** What `fit` accepts: any MatrixLike, or `{ X, columns }` (for example `readCsv(file)`). */
export type FitInput = MatrixLike | NamedData;

function isNamedData(X: unknown): X is NamedData {
  return typeof X === 'object' && X !== null && !Array.isArray(X) && !ArrayBuffer.isView(X) && !(X instanceof Matrix) && 'X' in X;
}

export { erf };

/** Options every detector accepts. */
export interface DetectorOptions {
  /** Expected share of anomalies in the training data, (0, 0.5]; sets the threshold as that upper quantile of training scores. Default 0.1. */
  contamination?: number;
  /**
   * How the threshold is chosen: a fixed raw score (overrides `contamination`), or a method:
   * 'contamination' (default), 'spot', 'mad', 'iqr', or an object such as `{ method: 'spot', risk: 1e-3 }`
   * (see {@link ThresholdSpec}). `detector.thresholdInfo` says what was chosen and why.
   */
  threshold?: ThresholdSpec;
  /** Default method of `normalize` (and of ensembles combining this detector): 'ecdf' (default), 'zscore', 'unify', 'minmax'. */
  calibration?: CalibrationMethod;
  /** Seed for every random choice; the same seed, data and options give bit-identical models. Default: drawn at random (read it back from `detector.seed`). */
  seed?: number;
  /** Native threads for fit and batch scoring; 0 = all cores. Default 0. */
  threads?: number;
  /** Replace NaN and +-Inf by a per-column value learned at fit, instead of throwing. */
  impute?: ImputeMethod;
}

export const BASE_OPTIONS = ['contamination', 'threshold', 'calibration', 'seed', 'threads', 'impute'] as const;

/** How `normalize` maps raw scores to [0, 1]; see {@link CalibrationMethod}. */
export type NormalizeMethod = CalibrationMethod;

const QUANTILES = 1001;

/** Linear-interpolated quantile of sorted values (numpy's default). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export interface DetectorState {
  /** JSON-safe fitted values. */
  meta: Record<string, unknown>;
  /** Fitted arrays. */
  arrays: Record<string, TypedArray>;
}

type Factory = (options: any) => Detector;
const registry = new Map<string, Factory>();

/** Makes a detector type loadable from model files. */
export function registerDetector(type: string, factory: Factory): void {
  registry.set(type, factory);
}

/** Rebuilds any detector from the bytes of a model file. */
export function detectorFromBytes(bytes: Uint8Array, source = 'model bytes'): Detector {
  return detectorFromContent(decodeModel(bytes, source), source);
}

/** Loads any detector saved with `save`. */
export function loadDetector(file: string): Detector {
  return detectorFromContent(readModelFile(file), `'${file}'`);
}

function detectorFromContent(content: ModelContent, source: string): Detector {
  const factory = registry.get(content.type);
  if (!factory)
    throw new ModelFileError(`${source} holds a detector of type '${content.type}', which this version of nadir does not know (known: ${[...registry.keys()].join(', ')})`);
  const meta = content.meta as { options?: object; common?: any; state?: Record<string, unknown> };
  if (!meta.common || !meta.state) throw new ModelFileError(`${source} is missing its fitted state`);
  let det: Detector;
  try {
    det = factory(meta.options ?? {});
    det['restoreCommon'](meta.common, content.arrays);
    det['importState']({ meta: meta.state, arrays: content.arrays });
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    throw new ModelFileError(`${source} holds an inconsistent ${content.type}: ${(e as Error).message}`);
  }
  return det;
}

/**
 * The contract every detector keeps: fit on mostly-normal data, score (higher = more anomalous),
 * threshold from contamination, predict, normalize, explain, save/load, seeded determinism.
 */
export abstract class Detector<O extends DetectorOptions = DetectorOptions> {
  /** Name of the detector type, as stored in model files. */
  abstract readonly type: string;

  protected readonly options: Readonly<O>;
  protected readonly contaminationValue: number;
  protected readonly threadsValue: number;
  private readonly seedValue: number;
  private nFeaturesValue = 0;
  private thresholdValue = NaN;
  private thresholdInfoValue?: ThresholdInfo;
  private readonly thresholdSpec: ParsedThreshold;
  private readonly calibrationValue: CalibrationMethod;
  private calibration?: { quantiles: Float32Array; mean: number; std: number };
  private summary?: ScoreSummary;
  private tail?: Float32Array;
  private fill?: Float32Array;
  private featureNamesValue?: readonly string[];
  private pendingNames?: readonly string[];

  protected constructor(owner: string, options: O | undefined, known: readonly string[]) {
    checkOptionNames(owner, options, [...BASE_OPTIONS, ...known]);
    const o = (options ?? {}) as O;
    this.contaminationValue = optNumber(owner, 'contamination', o.contamination, 0.1, 0, 0.5, true);
    this.thresholdSpec = o.threshold === undefined ? { method: 'contamination', contamination: this.contaminationValue } : parseThreshold(owner, o.threshold, this.contaminationValue);
    this.calibrationValue = optEnum(owner, 'calibration', o.calibration, CALIBRATION_METHODS, 'ecdf');
    this.seedValue = optInt(owner, 'seed', o.seed, Math.floor(Math.random() * 2 ** 32) >>> 0, 0, 2 ** 32 - 1);
    this.threadsValue = optInt(owner, 'threads', o.threads, 0, 0, 1024);
    if (o.impute !== undefined) optEnum(owner, 'impute', o.impute, ['mean', 'median', 'zero'] as const, 'mean');
    this.options = Object.freeze({ ...o, seed: this.seedValue }) as Readonly<O>;
  }

  // ------------------------------------------------------------------ read-only state

  /** True once fitted (or loaded). */
  get fitted(): boolean {
    return this.nFeaturesValue > 0;
  }
  /** Number of features the detector was fitted on. */
  get nFeatures(): number {
    this.ensureFitted();
    return this.nFeaturesValue;
  }
  /** Score above which `predict` flags a row. */
  get threshold(): number {
    this.ensureFitted();
    return this.thresholdValue;
  }
  /** Column names seen at fit (from `fit({ X, columns })`, e.g. `fit(readCsv(file))`), else undefined. Saved with the model. */
  get featureNames(): readonly string[] | undefined {
    return this.featureNamesValue;
  }
  /** The threshold in use, how it was chosen and why. */
  get thresholdInfo(): Readonly<ThresholdInfo> {
    this.ensureFitted();
    return this.thresholdInfoValue!;
  }
  get contamination(): number {
    return this.contaminationValue;
  }
  /** The training-score table behind `normalize` (quantiles, mean, std). @internal */
  get calibrationTable(): Readonly<{ quantiles: Float32Array; mean: number; std: number }> {
    this.ensureFitted();
    return this.calibration!;
  }
  /** Default method of `normalize`. */
  get calibrationMethod(): CalibrationMethod {
    return this.calibrationValue;
  }
  get seed(): number {
    return this.seedValue;
  }
  /** The options the detector was built with (seed filled in). */
  get config(): Readonly<O> {
    return this.options;
  }

  // ------------------------------------------------------------------ what subclasses provide

  /** Learns from m; returns the training scores (used for threshold and calibration). */
  protected abstract fitMatrix(m: Matrix): Promise<Float32Array>;
  protected abstract scoreMatrix(m: Matrix): Promise<Float32Array>;
  protected abstract scoreMatrixSync(m: Matrix): Float32Array;
  /** Per-feature contributions, rows x cols. */
  protected explainMatrix(_m: Matrix): Promise<Float32Array> {
    return Promise.reject(new NadirError(`${this.type} does not provide per-feature explanations`));
  }
  protected abstract exportState(): DetectorState;
  protected abstract importState(state: DetectorState): void;
  /** Smallest number of rows fit accepts. */
  protected get minFitRows(): number {
    return 1;
  }

  // ------------------------------------------------------------------ the contract

  /** Fits the detector on mostly-normal data. Runs off the main thread. */
  async fit(X: FitInput): Promise<this> {
    const m = this.prepareFit(X);
    const scores = await this.fitMatrix(m);
    this.finishFit(m.cols, scores);
    return this;
  }

  /** Scores rows; higher = more anomalous. Runs off the main thread. */
  async score(X: MatrixLike): Promise<Float32Array> {
    // Where a non-finite input always yields a non-finite score, the input is read once: the
    // scores are checked, and only a bad one sends us back to name the offending value.
    const deferCheck = this.nonFiniteInputShowsInScore && !this.fill;
    const m = this.prepareInput(X, 'X', !deferCheck);
    if (m.rows === 0) return new Float32Array(0);
    const scores = await this.scoreMatrix(m);
    if (deferCheck && native.firstNonFinite(scores) >= 0) assertFinite(m);
    return scores;
  }

  /**
   * Approximate work to score one row, from the fitted shape, in multiply-add equivalents: a
   * multiply-add of a dense kernel (PCA, Mahalanobis, the neural layers) counts 1, and the steps of
   * searches and tree walks, which wait on dependent loads, count what they cost in nadir's kernels
   * measured against those (single thread, x86-64 with AVX-512; see each detector). Undefined where no
   * estimate is made. A cost model, not a timing: it is deterministic, and `chooseFirstStage` uses it
   * to keep expensive candidates out of a cascade's first stage.
   */
  get costPerRow(): number | undefined {
    return undefined;
  }

  /** Scores one row (a flat array of nFeatures values) or a small batch, synchronously: the latency path. */
  scoreSync(X: MatrixLike): Float32Array {
    const m = this.prepareInput(X);
    if (m.rows === 0) return new Float32Array(0);
    return this.scoreMatrixSync(m);
  }

  /** 1 where score > threshold, else 0. */
  async predict(X: MatrixLike): Promise<Uint8Array> {
    return this.applyThreshold(await this.score(X));
  }

  predictSync(X: MatrixLike): Uint8Array {
    return this.applyThreshold(this.scoreSync(X));
  }

  /** Labels for scores already computed. */
  applyThreshold(scores: ArrayLike<number>): Uint8Array {
    const t = this.threshold;
    const out = new Uint8Array(scores.length);
    for (let i = 0; i < scores.length; i++) out[i] = scores[i] > t ? 1 : 0;
    return out;
  }

  /**
   * Maps raw scores to [0, 1] (monotone, comparable across detectors) using the training-score
   * distribution; `method` defaults to the `calibration` option ('ecdf'). See {@link CalibrationMethod}:
   * 'ecdf' is the interpolated rank among training scores; 'zscore' is Phi((s - mean) / std); 'unify' is
   * PyOD's max(0, erf((s - mean) / (std sqrt 2))); 'minmax' scales by the training range, clipped.
   */
  normalize(scores: ArrayLike<number>, method: NormalizeMethod = this.calibrationValue): Float32Array {
    this.ensureFitted();
    return calibrate(this.calibration!, scores, method);
  }

  /** Calibrated scores: `normalize(await score(X))`. */
  async scoreCalibrated(X: MatrixLike, method: NormalizeMethod = this.calibrationValue): Promise<Float32Array> {
    return this.normalize(await this.score(X), method);
  }

  /**
   * Chooses a new threshold after fit (or load) from the stored training-score summary; returns the
   * resulting `thresholdInfo`. Saved models keep it. Contamination quantiles above the kept tail of
   * training scores use the 1001-point calibration table (interpolated).
   */
  setThreshold(spec: ThresholdSpec): Readonly<ThresholdInfo> {
    this.ensureFitted();
    const parsed = parseThreshold(this.type, spec, this.contaminationValue);
    this.applyThresholdInfo(computeThreshold(parsed, this.storedSource()));
    return this.thresholdInfoValue!;
  }

  /**
   * A Transform stream (object mode) scoring records as they arrive: write records (objects keyed
   * by `featureNames`), arrays or typed arrays; read `{ ...record, score, anomaly }` in input
   * order. Rows are micro-batched (`batchSize`, default 256) and a partial batch is flushed after
   * `maxDelayMs` (default 5); back-pressure is respected.
   */
  scoreStream(options?: ScoreStreamOptions): ScoreStream {
    return new ScoreStream(this, options);
  }

  /** `for await (const r of detector.scoreIterable(source))`: the scoreStream over any (async) iterable of records or rows. */
  scoreIterable(source: Iterable<StreamInput> | AsyncIterable<StreamInput>, options?: ScoreStreamOptions): AsyncIterable<ScoredRecord> {
    return scoreIterable(this, source, options);
  }

  /**
   * How consecutive batches of one stream of rows are scored (used by `scoreStream` and the CLI's
   * `score`): undefined, the default, scores every batch on its own; a detector whose scores
   * depend on earlier rows (a time-series model) returns a stateful function so that the batches
   * score exactly as one sequence would.
   */
  sequentialScorer(): ((m: Matrix) => Float32Array) | undefined {
    return undefined;
  }

  /** Per-feature contributions to each row's score, as a rows x nFeatures Matrix. */
  async explain(X: MatrixLike): Promise<Matrix> {
    const m = this.prepareInput(X);
    if (m.rows === 0) return new Matrix(new Float32Array(0), 0, m.cols);
    return new Matrix(await this.explainMatrix(m), m.rows, m.cols);
  }

  /** The model as the bytes of a nadir model file. */
  toBytes(): Uint8Array {
    this.ensureFitted();
    const { meta, arrays } = this.exportState();
    const common: Record<string, unknown> = {
      nFeatures: this.nFeaturesValue,
      threshold: this.thresholdValue,
      mean: this.calibration!.mean,
      std: this.calibration!.std,
      thresholdInfo: this.thresholdInfoValue,
      summary: this.summary,
    };
    if (this.featureNamesValue) common.featureNames = [...this.featureNamesValue];
    const all: Record<string, TypedArray> = { ...arrays, 'calibration.quantiles': this.calibration!.quantiles };
    if (this.tail) all['calibration.tail'] = this.tail;
    if (this.fill) all['impute.fill'] = this.fill;
    return encodeModel({ type: this.type, meta: { options: this.options, common, state: meta }, arrays: all });
  }

  /** Saves the model atomically to one file. */
  save(file: string): void {
    writeFileAtomic(file, this.toBytes());
  }

  /** Loads a model saved with `save`. On a subclass (`IsolationForest.load`) the file must hold that type. */
  static load<T extends Detector>(this: { prototype: T; name: string }, file: string): T {
    return checkType(this, loadDetector(file), `'${file}'`);
  }

  /** Rebuilds a model from `toBytes()` output. */
  static fromBytes<T extends Detector>(this: { prototype: T; name: string }, bytes: Uint8Array): T {
    return checkType(this, detectorFromBytes(bytes), 'model bytes');
  }

  // ------------------------------------------------------------------ helpers for subclasses

  protected ensureFitted(): void {
    if (this.nFeaturesValue === 0) throw new NotFittedError(`${this.type} is not fitted: call fit(X) or load a saved model first`);
  }

  protected prepareFit(input: FitInput): Matrix {
    let X = input as MatrixLike;
    this.pendingNames = undefined;
    if (isNamedData(input)) {
      X = input.X;
      if (input.columns !== undefined) {
        const names = input.columns;
        if (!Array.isArray(names) || names.some((n) => typeof n !== 'string'))
          throw new DataError(`Expected an array of strings for the columns of the fit data but received ${typeof names}`);
        if (new Set(names).size !== names.length) throw new DataError(`the fit data's column names are not unique: ${names.join(', ')}`);
        this.pendingNames = Object.freeze([...names]);
      }
    }
    let m = toMatrix(X);
    if (this.pendingNames && this.pendingNames.length !== m.cols)
      throw new DataError(`the fit data has ${m.cols} columns but ${this.pendingNames.length} column names`);
    if (m.rows === 0) throw new DataError(`X is empty: ${this.type}.fit needs at least ${this.minFitRows} row(s)`);
    if (m.cols === 0) throw new DataError('X has no columns');
    if (m.rows < this.minFitRows) throw new DataError(`X has ${m.rows} row(s) but ${this.type}.fit needs at least ${this.minFitRows}`);
    if (this.options.impute) {
      this.fill = imputeValues(m, this.options.impute);
      m = applyImpute(m, this.fill);
    } else {
      this.fill = undefined;
      assertFinite(m);
    }
    return m;
  }

  protected prepareInput(X: MatrixLike, name = 'X', checkFinite = true): Matrix {
    this.ensureFitted();
    let m = toMatrix(X, { cols: this.nFeaturesValue, name });
    if (m.rows > 0 && m.cols !== this.nFeaturesValue)
      throw new DataError(`${name} has ${m.cols} columns but this ${this.type} was fitted on ${this.nFeaturesValue}`);
    if (this.fill) m = applyImpute(m, this.fill);
    else if (checkFinite) assertFinite(m, name);
    return m;
  }

  /**
   * Fits on an already validated matrix and returns one training score per row (the scores fit
   * produced, or a fresh scoring pass when fit scored a subsample). Used by ensembles and cascades.
   * @internal
   */
  async fitForRows(m: Matrix): Promise<Float32Array> {
    const prepared = this.prepareFit(m);
    const scores = await this.fitMatrix(prepared);
    this.finishFit(prepared.cols, scores);
    return scores.length === prepared.rows ? scores : this.scoreMatrix(prepared);
  }

  /**
   * True when the native scoring is pure arithmetic on the inputs, so a NaN or +-Inf anywhere in a
   * row always makes that row's score non-finite (never used as an index or in a comparison).
   */
  protected get nonFiniteInputShowsInScore(): boolean {
    return false;
  }

  private finishFit(cols: number, scores: Float32Array): void {
    const sorted = native.sortScores(scores);
    const quantiles = new Float32Array(QUANTILES);
    for (let k = 0; k < QUANTILES; k++) quantiles[k] = quantileSorted(sorted, k / (QUANTILES - 1));
    const summary = summarize(sorted);
    this.calibration = { quantiles, mean: summary.mean, std: summary.std };
    this.summary = summary;
    this.tail = Float32Array.from(sorted.subarray(sorted.length - tailSize(sorted.length)));
    this.nFeaturesValue = cols;
    this.featureNamesValue = this.pendingNames;
    this.pendingNames = undefined;
    // Exact quantiles from every training score at fit; setThreshold later reads the kept tail.
    this.applyThresholdInfo(computeThreshold(this.thresholdSpec, { summary, tail: this.tail, quantile: (p) => quantileSorted(sorted, p) }));
  }

  private applyThresholdInfo(info: ThresholdInfo): void {
    this.thresholdInfoValue = Object.freeze({ ...info, params: Object.freeze({ ...info.params }) });
    this.thresholdValue = info.value;
  }

  /** Training scores as kept in the model: exact in the tail, the calibration table below it. */
  private storedSource(): ScoreSource {
    const cal = this.calibration!;
    const q = cal.quantiles;
    const tail = this.tail;
    const summary = this.summary ?? approximateSummary(q, cal.mean, cal.std);
    return {
      summary,
      tail,
      quantile: (p) => {
        const n = summary.n;
        if (tail && n > 0) {
          const pos = p * (n - 1);
          const lo = Math.floor(pos) - (n - tail.length);
          if (lo >= 0) {
            const hi = Math.min(tail.length - 1, lo + 1);
            return tail[lo] + (tail[hi] - tail[lo]) * (pos - Math.floor(pos));
          }
        }
        return quantileSorted(q, p);
      },
    };
  }

  private restoreCommon(common: any, arrays: Record<string, TypedArray>): void {
    const q = arrays['calibration.quantiles'];
    if (!(q instanceof Float32Array) || q.length < 2) throw new ModelFileError('calibration table is missing');
    if (!Number.isInteger(common.nFeatures) || common.nFeatures <= 0) throw new ModelFileError('feature count is missing');
    const fill = arrays['impute.fill'];
    if (fill !== undefined && (!(fill instanceof Float32Array) || fill.length !== common.nFeatures)) throw new ModelFileError('imputation values do not match the feature count');
    const tail = arrays['calibration.tail'];
    if (tail !== undefined && !(tail instanceof Float32Array && tail.length > 0)) throw new ModelFileError('array calibration.tail is of the wrong type');
    this.calibration = { quantiles: q, mean: Number(common.mean), std: Number(common.std) };
    this.tail = tail as Float32Array | undefined;
    this.summary = common.summary && Number.isFinite(common.summary.n) ? (common.summary as ScoreSummary) : undefined;
    // Models from before thresholdInfo existed: describe the stored value.
    const info = common.thresholdInfo;
    this.applyThresholdInfo(
      info && typeof info === 'object' && typeof info.method === 'string'
        ? { method: info.method, value: Number(common.threshold), reason: String(info.reason), params: { ...(info.params ?? {}) } }
        : { method: typeof this.options.threshold === 'number' ? 'fixed' : 'contamination', value: Number(common.threshold), reason: 'stored in the model file', params: {} },
    );
    this.fill = fill as Float32Array | undefined;
    const names = common.featureNames;
    if (names !== undefined && (!Array.isArray(names) || names.length !== common.nFeatures || names.some((n: unknown) => typeof n !== 'string')))
      throw new ModelFileError('feature names do not match the feature count');
    this.featureNamesValue = names ? Object.freeze([...names]) : undefined;
    this.nFeaturesValue = common.nFeatures;
  }
}

/** Summary statistics recovered from a quantile table (models saved without a summary). */
function approximateSummary(q: Float32Array, mean: number, std: number): ScoreSummary {
  const median = quantileSorted(q, 0.5);
  // MAD m solves F(median + m) - F(median - m) = 1/2 on the interpolated table.
  let lo = 0;
  let hi = Math.max(q[q.length - 1] - median, median - q[0]);
  for (let it = 0; it < 60; it++) {
    const m = (lo + hi) / 2;
    if (ecdfAt(q, median + m) - ecdfAt(q, median - m) < 0.5) lo = m;
    else hi = m;
  }
  return { n: NaN, mean, std, median, mad: (lo + hi) / 2, q1: quantileSorted(q, 0.25), q3: quantileSorted(q, 0.75) };
}

function checkType<T extends Detector>(cls: { prototype: T; name: string }, det: Detector, source: string): T {
  if (!(det instanceof (cls as unknown as new () => T))) throw new ModelFileError(`${source} holds a ${det.type}, not a ${cls.name}`);
  return det as T;
}

/** Asserts a loaded array has the expected type and length. */
export function expectArray<T extends TypedArray>(arrays: Record<string, TypedArray>, name: string, ctor: new (...a: any[]) => T, length?: number): T {
  const a = arrays[name];
  if (!(a instanceof ctor)) throw new ModelFileError(`array '${name}' is missing or of the wrong type`);
  if (length !== undefined && a.length !== length) throw new ModelFileError(`array '${name}' has ${a.length} values, expected ${length}`);
  return a as T;
}
