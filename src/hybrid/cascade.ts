import { native } from '../binding';
import { Matrix, MatrixLike } from '../data/matrix';
import { DataError, ModelFileError, NadirError, OptionError } from '../errors';
import { optBool, optInt, optNumber } from '../options';
import { Detector, DetectorOptions, DetectorState, detectorFromBytes, expectArray, quantileSorted, registerDetector } from '../detectors/base';
import { calibrateTieBreak } from './calibration';
import { scaleRows } from './combine';
import { rocAuc } from '../metrics';
import { IsolationForest } from '../detectors/isolation-forest';
import { ECOD } from '../detectors/ecod';

/**
 * Which rows a stage decides and which it sends on. Both forms are read on the training rows that
 * reach the stage, at fit:
 * - `{ low, high }`: rows between the `low` and `high` quantiles of the stage's training scores go on;
 *   rows at or below `low` are decided normal, rows above `high` decided anomalous.
 * - `{ budget, high? }`: at most `budget` of the training rows go on: the band just below the `high`
 *   quantile. By default the band is centred on the stage's own threshold (its decision boundary,
 *   where it is least sure): high = min(1, t + budget / 2), t the share of training rows at or below
 *   the threshold (0.9 with the default contamination 0.1, giving the band 0.825..0.975 at budget 0.15).
 *   A single budget route on a cascade of S stages caps the share reaching the LAST stage: each of the
 *   S - 1 routing stages forwards budget^(1 / (S - 1)) of what it receives.
 */
export type RouteSpec = { low: number; high: number } | { budget: number; high?: number };

export interface CascadeOptions extends DetectorOptions {
  /** Required: two or more detectors, cheapest first. `fit` fits them all (in parallel) on the same data. */
  stages: Detector[];
  /** The uncertain band of each routing stage: one spec for every stage, or one per stage but the last. Default `{ budget: 0.15 }`. */
  route?: RouteSpec | RouteSpec[];
  /** false: stages that are already fitted are kept as they are (only the routing, calibration and threshold are fitted on X). Default true: `fit` refits every stage. */
  refit?: boolean;
  /**
   * How a forwarded row is ordered inside its band: the weight of the later stages' score against
   * this stage's own position in the band. 1 = the later stages alone decide the order; 0 = they
   * change nothing. Default 0.3: the later stage refines the order of the uncertain rows while the
   * first stage keeps most of its say, which held AUC at the better stage's level on the benchmark
   * datasets (bench/hybrid.js), where the neural stage was often the weaker one.
   */
  blend?: number;
  /**
   * `score` scores a stage's rows right away, on the calling thread, when they hold at most this many
   * values (rows x features); larger batches go through the stage's own asynchronous `score` (the
   * thread pool, ONNX Runtime for a neural stage). Below about a hundred thousand values the hop to
   * the pool and back (tens of microseconds on a busy machine) weighs on a cheap stage, and an
   * expensive one still finishes within a millisecond or two (the default autoencoder's native
   * forward pass: about 0.2 ms for 65536 values of 100 features, 1 ms for 65536 values of 9).
   * 0 = always asynchronous. Default 131072.
   */
  syncBelow?: number;
}

/** Fitted band of one routing stage: raw-score edges and their positions on the cascade's scale. */
interface Band {
  /** Rows with score <= lowRaw are decided normal. */
  lowRaw: number;
  /** Rows with score > highRaw are decided anomalous; rows in (lowRaw, highRaw] go on. */
  highRaw: number;
  /** Where the band starts and ends on the [0, 1] cascade scale. */
  low: number;
  high: number;
  /** Share of the training rows reaching this stage that it forwarded at fit. */
  forwarded: number;
}

export interface StageStats {
  type: string;
  /** Rows this stage scored. */
  rows: number;
  /** Rows it decided: every row it scored for the last stage. */
  decided: number;
  /** Of those, decided normal (below the band) / anomalous (above it); 0 for the last stage. */
  decidedNormal: number;
  decidedAnomalous: number;
  forwarded: number;
  /** Wall time spent in this stage's scoring, milliseconds. */
  ms: number;
}

export interface CascadeStats {
  calls: number;
  rows: number;
  stages: StageStats[];
}

const OWNER = 'Cascade';
const KNOWN = ['route', 'refit', 'blend', 'syncBelow'] as const;
const LOADING = Symbol('loading');

function stagesOf(options: unknown, loading: boolean): { stages: Detector[]; rest: Omit<CascadeOptions, 'stages'> } {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new OptionError(`${OWNER} options must be an object { stages, route, ... } but received ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  const { stages, ...rest } = options as CascadeOptions;
  if (loading) return { stages: [], rest };
  if (!Array.isArray(stages)) throw new OptionError(`${OWNER} option 'stages' must be an array of detectors, cheapest first, but received ${stages === undefined ? 'nothing' : typeof stages}`);
  if (stages.length < 2) throw new OptionError(`${OWNER} option 'stages' needs at least 2 detectors but received ${stages.length}`);
  if (stages.length > 255) throw new OptionError(`${OWNER} option 'stages' holds ${stages.length} detectors; at most 255 are supported`);
  stages.forEach((d, j) => {
    if (!(d instanceof Detector)) throw new OptionError(`${OWNER} option 'stages[${j}]' must be a nadir detector but received ${d === null ? 'null' : typeof d === 'object' ? (d as object).constructor?.name ?? 'an object' : typeof d}`);
    if (stages.indexOf(d) !== j) throw new OptionError(`${OWNER} option 'stages' holds the same ${d.type} instance twice (stages[${stages.indexOf(d)}] and stages[${j}]); pass separate detectors`);
  });
  return { stages: [...stages], rest };
}

type ParsedRoute = { kind: 'quantiles'; low: number; high: number } | { kind: 'budget'; budget: number; high?: number };

function parseRoute(spec: unknown, name: string): ParsedRoute {
  const bad = (why: string): never => {
    throw new OptionError(`${OWNER} option '${name}' ${why}`);
  };
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) bad(`must be { low, high } or { budget, high? } but received ${spec === null ? 'null' : typeof spec}`);
  const o = spec as Record<string, unknown>;
  const num = (key: string, v: unknown, ok: (x: number) => boolean, what: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) bad(`field '${key}' must be ${what} but received ${JSON.stringify(v)}`);
    return v as number;
  };
  const extra = (allowed: string[]) => {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(`has an unknown field '${k}' (expected ${allowed.join(', ')})`);
  };
  if ('budget' in o) {
    extra(['budget', 'high']);
    const budget = num('budget', o.budget, (x) => x > 0 && x <= 1, 'a share of rows in (0, 1]');
    const high = o.high === undefined ? undefined : num('high', o.high, (x) => x > 0 && x <= 1, 'a quantile in (0, 1]');
    return { kind: 'budget', budget, high };
  }
  if ('low' in o || 'high' in o) {
    extra(['low', 'high']);
    const low = num('low', o.low, (x) => x >= 0 && x <= 1, 'a quantile in [0, 1]');
    const high = num('high', o.high, (x) => x >= low && x <= 1, `a quantile in [low = ${low}, 1]`);
    return { kind: 'quantiles', low, high };
  }
  return bad(`must be { low, high } (quantile band) or { budget, high? } (share of rows sent on) but has fields ${JSON.stringify(Object.keys(o))}`);
}

/**
 * A stage's scores for rows the cascade has already validated (finite, right width): the stage's own
 * scoring methods without a second validation pass over the same rows.
 */
function stageScoreSync(det: Detector, m: Matrix): Float32Array {
  return det['scoreMatrixSync'](m);
}

function stageScore(det: Detector, m: Matrix): Promise<Float32Array> {
  return det['scoreMatrix'](m);
}

/**
 * One scoring run through the stages: `sub` holds the rows stage `i` must score next (null when done);
 * `advance` takes their scores, decides what the stage decides and gathers the rest for the next stage
 * in one pass.
 */
class Run {
  i = 0;
  sub: Matrix | null;
  private readonly out: Float32Array;
  private readonly stage: Uint8Array;
  /** rows[k]: original index of the k-th row reaching stage i; lo/span place it on the scale (null at stage 0). */
  private rows: Int32Array | null = null;
  private lo: Float64Array | null = null;
  private span: Float64Array | null = null;
  private readonly stages: Detector[];
  private readonly bandArrays: Float64Array[];
  private readonly stats: CascadeStats;

  /** `stats` replaces the cascade's own counters (fit passes a throwaway set). */
  constructor(c: Cascade, m: Matrix, stats?: CascadeStats) {
    ({ stages: this.stages, bandArrays: this.bandArrays, stats: this.stats } = c.runParts);
    if (stats) this.stats = stats;
    this.out = new Float32Array(m.rows);
    this.stage = new Uint8Array(m.rows);
    this.stats.calls++;
    this.stats.rows += m.rows;
    this.sub = m.rows > 0 ? m : null;
  }

  /** Input rows of the rows stage i scores next (null at stage 0: all of them, in order). */
  get reached(): Int32Array | null {
    return this.rows;
  }

  result(): { scores: Float32Array; stage: Uint8Array } {
    return { scores: this.out, stage: this.stage };
  }

  advance(scores: Float32Array, ms: number): void {
    const i = this.i;
    const sub = this.sub!;
    const n = sub.rows;
    const det = this.stages[i];
    const st = this.stats.stages[i];
    st.rows += n;
    st.ms += ms;
    const last = i === this.stages.length - 1;
    const cal = det.calibrationTable;
    // One native pass: scale, decide, and gather what goes on (the placement: see the Cascade class comment).
    const r = native.cascadeRoute(
      scores, cal.quantiles, cal.mean, cal.std, TIE_BREAK, last ? null : this.bandArrays[i],
      this.rows, this.lo, this.span, last ? null : sub.data, sub.cols, this.out, this.stage, i,
    );
    const nNext = r.forwarded;
    st.decided += n - nNext;
    if (last || nNext === 0) {
      this.sub = null;
      return;
    }
    st.decidedNormal += r.normal;
    st.decidedAnomalous += n - nNext - r.normal;
    st.forwarded += nNext;
    this.rows = r.rows!;
    this.lo = r.lo!;
    this.span = r.span!;
    this.sub = new Matrix(r.data!, nNext, sub.cols);
    this.i = i + 1;
  }
}

/** Index of the first element > x in ascending a. */
function upperBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Each stage's scores on the cascade scale: mostly the rank among its training scores (ecdf), plus a
 * small strictly increasing z-score term so rows beyond the training range stay ordered instead of
 * tying at 0 or 1 (ties between anomalies and normal rows would cost AUC).
 */
const TIE_BREAK = 0.01;
function stageScale(det: Detector, scores: Float32Array): Float32Array {
  return calibrateTieBreak(det.calibrationTable, scores, TIE_BREAK);
}

/**
 * A classical -> neural (cheap -> expensive) cascade. Every row is scored by the first stage; rows
 * whose score is clearly normal or clearly anomalous are decided there and only the uncertain band
 * goes on, so the expensive stage sees a fraction of the rows.
 *
 * One scale for all rows: each stage's score is mapped to [0, 1] by its training ranks (ecdf). A row
 * decided normal by stage i keeps that value (<= the band's lower edge L), a row decided anomalous keeps
 * it (> the upper edge H), and a forwarded row gets L + (H - L) * ((1 - blend) * p + blend * g), p its
 * position inside the band by this stage, g its score from the later stages (same rule, recursively).
 * Hence decided-normal < every forwarded outcome < decided-anomalous, later stages only reorder rows
 * inside the band they were sent, and AUC over the cascade output is meaningful.
 */
export class Cascade extends Detector<Omit<CascadeOptions, 'stages'> & DetectorOptions> {
  readonly type = 'Cascade';
  private stagesValue: Detector[];
  private readonly routes: ParsedRoute[];
  private bands: Band[] = [];
  private statsValue: CascadeStats;
  private readonly refit: boolean;
  private readonly blend: number;
  private readonly syncBelow: number;
  /** The bands as the native routing pass reads them; rebuilt after fit or load. */
  private bandArraysValue?: Float64Array[];

  constructor(options: CascadeOptions);
  /** @internal */
  constructor(options: CascadeOptions, loading: typeof LOADING);
  constructor(options: CascadeOptions, loading?: typeof LOADING) {
    const { stages, rest } = stagesOf(options, loading === LOADING);
    super(OWNER, rest, KNOWN);
    this.stagesValue = stages;
    this.refit = optBool(OWNER, 'refit', rest.refit, true);
    this.blend = optNumber(OWNER, 'blend', rest.blend, 0.3, 0, 1);
    this.syncBelow = optInt(OWNER, 'syncBelow', rest.syncBelow, 131072, 0, 2 ** 31 - 1);
    const route = rest.route ?? { budget: 0.15 };
    if (Array.isArray(route)) {
      if (loading !== LOADING && route.length !== stages.length - 1)
        throw new OptionError(`${OWNER} option 'route' has ${route.length} entries but ${stages.length} stages need ${stages.length - 1} (one per stage but the last)`);
      this.routes = route.map((r, j) => parseRoute(r, `route[${j}]`));
    } else {
      this.routes = [parseRoute(route, 'route')];
    }
    this.statsValue = this.emptyStats();
  }

  /** The stages, cheapest first. */
  get stages(): readonly Detector[] {
    return this.stagesValue;
  }

  /** The fitted band of each routing stage (raw-score edges, their place on the cascade scale, share forwarded at fit). */
  get routing(): readonly Readonly<Band>[] {
    this.ensureFitted();
    return this.bands.map((b) => Object.freeze({ ...b }));
  }

  /** Rows and time per stage, summed over every scoring call since fit, load or `resetStats()`. */
  get stats(): Readonly<CascadeStats> {
    const s = this.statsValue;
    return { calls: s.calls, rows: s.rows, stages: s.stages.map((st) => ({ ...st })) };
  }

  resetStats(): void {
    this.statsValue = this.emptyStats();
  }

  private emptyStats(): CascadeStats {
    return { calls: 0, rows: 0, stages: this.stagesValue.map((d) => ({ type: d.type, rows: 0, decided: 0, decidedNormal: 0, decidedAnomalous: 0, forwarded: 0, ms: 0 })) };
  }

  private routeFor(i: number): ParsedRoute {
    const r = this.routes.length === 1 && this.stagesValue.length > 2 ? this.routes[0] : this.routes[i];
    if (r.kind === 'budget' && this.routes.length === 1 && this.stagesValue.length > 2)
      return { ...r, budget: Math.pow(r.budget, 1 / (this.stagesValue.length - 1)) };
    return r;
  }

  protected get minFitRows(): number {
    return 2;
  }

  protected async fitMatrix(m: Matrix): Promise<Float32Array> {
    const S = this.stagesValue.length;
    const fitHere = this.stagesValue.map((d) => this.refit || !d.fitted);
    const fitScores = await Promise.all(this.stagesValue.map((d, i) => (fitHere[i] ? d.fitForRows(m) : d.score(m))));
    // Routing stages fitted here are rescored through the scoring path so the bands are exact for
    // `score` (a kept stage's scores above already come from it).
    const scores: Float32Array[] = [];
    for (let i = 0; i < S; i++) scores.push(i < S - 1 && fitHere[i] ? await this.stagesValue[i].score(m) : fitScores[i]);
    const bands: Band[] = [];
    let reach: number[] = [...Array(m.rows).keys()];
    for (let i = 0; i < S - 1; i++) {
      const det = this.stagesValue[i];
      const sorted = Float64Array.from(reach, (r) => scores[i][r]).sort();
      const n = sorted.length;
      const route = this.routeFor(i);
      let lowRaw: number;
      let highRaw: number;
      if (n === 0) {
        lowRaw = Infinity;
        highRaw = Infinity;
      } else if (route.kind === 'quantiles') {
        lowRaw = quantileSorted(sorted, route.low);
        highRaw = route.high >= 1 ? Infinity : quantileSorted(sorted, route.high);
      } else {
        // At most floor(budget * n) rows in (lowRaw, highRaw]: count ub(high) - ub(low) <= k.
        const k = Math.floor(route.budget * n);
        // Default: the band straddles the stage's threshold (its decision boundary, where it is least sure).
        const high = route.high ?? Math.min(1, upperBound(sorted, det.threshold) / n + route.budget / 2);
        const nAbove = Math.floor((1 - high) * n);
        highRaw = nAbove === 0 ? Infinity : sorted[n - 1 - nAbove];
        const ub = upperBound(sorted, highRaw);
        lowRaw = ub - 1 - k >= 0 ? sorted[ub - 1 - k] : -Infinity;
      }
      const next: number[] = [];
      for (const r of reach) if (scores[i][r] > lowRaw && scores[i][r] <= highRaw) next.push(r);
      bands.push({
        lowRaw,
        highRaw,
        low: lowRaw === -Infinity ? 0 : stageScale(det, Float32Array.of(lowRaw))[0],
        high: highRaw === Infinity ? 1 : stageScale(det, Float32Array.of(highRaw))[0],
        forwarded: n ? next.length / n : 0,
      });
      reach = next;
    }
    this.bands = bands;
    this.bandArraysValue = undefined;
    // The training rows' cascade scores by the scoring path's own routing, from the scores above
    // (the counters of this run are thrown away).
    const run = new Run(this, m, this.emptyStats());
    while (run.sub) {
      const idx = run.reached;
      run.advance(idx ? Float32Array.from(idx, (r) => scores[run.i][r]) : scores[run.i], 0);
    }
    return run.result().scores;
  }

  protected async scoreMatrix(m: Matrix): Promise<Float32Array> {
    return (await this.drive(m)).scores;
  }

  protected scoreMatrixSync(m: Matrix): Float32Array {
    return this.runSync(m).scores;
  }

  /** Scores rows and says which stage (0-based) decided each one. */
  async scoreWithStage(X: MatrixLike): Promise<{ scores: Float32Array; stage: Uint8Array }> {
    const m = this.prepareInput(X);
    return this.drive(m);
  }

  scoreWithStageSync(X: MatrixLike): { scores: Float32Array; stage: Uint8Array } {
    return this.runSync(this.prepareInput(X));
  }

  private runSync(m: Matrix): { scores: Float32Array; stage: Uint8Array } {
    const run = new Run(this, m);
    while (run.sub) {
      const t0 = performance.now();
      const s = stageScoreSync(this.stagesValue[run.i], run.sub);
      run.advance(s, performance.now() - t0);
    }
    return run.result();
  }

  private async drive(m: Matrix): Promise<{ scores: Float32Array; stage: Uint8Array }> {
    const run = new Run(this, m);
    while (run.sub) {
      const det = this.stagesValue[run.i];
      const sub: Matrix = run.sub;
      const t0 = performance.now();
      // A small batch costs less scored here than the hop to the thread pool and back.
      const s = sub.rows * sub.cols <= this.syncBelow ? stageScoreSync(det, sub) : await stageScore(det, sub);
      run.advance(s, performance.now() - t0);
    }
    return run.result();
  }

  /** @internal The pieces a scoring run reads. */
  get runParts(): { stages: Detector[]; bandArrays: Float64Array[]; stats: CascadeStats } {
    this.bandArraysValue ??= this.bands.map((b) => Float64Array.of(b.lowRaw, b.highRaw, b.low, b.high, this.blend));
    return { stages: this.stagesValue, bandArrays: this.bandArraysValue, stats: this.statsValue };
  }

  /**
   * Each row's explanation comes from the stage that decided it, rescaled so a row's contributions sum
   * to its cascade score.
   */
  protected async explainMatrix(m: Matrix): Promise<Float32Array> {
    const { scores, stage } = await this.drive(m);
    const out = new Float32Array(m.rows * m.cols);
    for (let i = 0; i < this.stagesValue.length; i++) {
      const idx: number[] = [];
      for (let r = 0; r < m.rows; r++) if (stage[r] === i) idx.push(r);
      if (idx.length === 0) continue;
      const det = this.stagesValue[i];
      const e = await det.explain(m.selectRows(idx)).catch((err: Error) => {
        throw new NadirError(`Cascade.explain uses the explanation of the stage that decided each row, but stages[${i}] (${det.type}) cannot give one: ${err.message}`);
      });
      const scaled = scaleRows(e.data, idx.length, m.cols, Float32Array.from(idx, (r) => scores[r]));
      idx.forEach((r, k) => out.set(scaled.subarray(k * m.cols, (k + 1) * m.cols), r * m.cols));
    }
    return out;
  }

  protected exportState(): DetectorState {
    const arrays: Record<string, Uint8Array | Float64Array> = {};
    this.stagesValue.forEach((d, j) => (arrays[`stage.${j}`] = d.toBytes()));
    // Band edges as f64 arrays: JSON cannot hold +-Infinity.
    arrays['bands'] = Float64Array.from(this.bands.flatMap((b) => [b.lowRaw, b.highRaw, b.low, b.high, b.forwarded]));
    return { meta: { stages: this.stagesValue.length, stageTypes: this.stagesValue.map((d) => d.type) }, arrays };
  }

  protected importState(state: DetectorState): void {
    const S = state.meta.stages;
    if (!Number.isInteger(S) || (S as number) < 2) throw new ModelFileError('the cascade stage count is missing');
    const stages: Detector[] = [];
    for (let j = 0; j < (S as number); j++) stages.push(detectorFromBytes(expectArray(state.arrays, `stage.${j}`, Uint8Array), `cascade stage ${j}`));
    const b = expectArray(state.arrays, 'bands', Float64Array, 5 * ((S as number) - 1));
    this.stagesValue = stages;
    this.bands = [];
    for (let i = 0; i < (S as number) - 1; i++) this.bands.push({ lowRaw: b[5 * i], highRaw: b[5 * i + 1], low: b[5 * i + 2], high: b[5 * i + 3], forwarded: b[5 * i + 4] });
    this.bandArraysValue = undefined;
    this.statsValue = this.emptyStats();
  }
}

export interface FirstStageChoice {
  /** The chosen candidate. */
  stage: Detector;
  /** Its position in `candidates`. */
  index: number;
  /** Each candidate's agreement with the consensus on the training rows (the ROC-AUC of its scores against the consensus' top rows). */
  agreement: number[];
  /** Each candidate's `costPerRow` relative to the last stage's (undefined where either has no estimate). */
  costShare: (number | undefined)[];
  /** Whether each candidate was cheap enough to be chosen (see the `maxCost` option). */
  eligible: boolean[];
}

export interface ChooseFirstStageOptions {
  /** Share of rows that stands for the anomalies in the consensus. Default: the last stage's contamination. */
  contamination?: number;
  /**
   * Detectors that vote in the consensus but are not candidates (typically too slow to be a first
   * stage). Default: an IsolationForest (seeded with the last stage's seed) and ECOD, fitted on X.
   * Pass [] for a consensus of the candidates and the last stage only.
   */
  judges?: Detector[];
  /**
   * Candidates whose `costPerRow` exceeds this share of the last stage's are not chosen (a first stage
   * that costs more cannot save much); when none is cheap enough, the cheapest are the ones chosen
   * from. Candidates without an estimate stay eligible. In (0, 1e6]; default 0.25.
   */
  maxCost?: number;
}

const CHOOSE_KNOWN = ['contamination', 'judges', 'maxCost'];

/**
 * Chooses the first stage of a cascade among cheap candidates from the training rows alone (no
 * labels): the candidates, the `last` (expensive) stage and the judges score X; the consensus is the
 * average of their ecdf-calibrated scores, and its top `contamination` share of rows stands for the
 * anomalies. Among the candidates cheap enough (`maxCost`), the one whose own scores rank those rows
 * highest (ROC-AUC) is chosen: the cheap filter that best agrees with what a diverse panel of
 * detectors, the expensive one included, finds anomalous. Ties go to the earlier candidate. Unfitted
 * detectors are fitted on X first. The judges widen the panel: with only a few voters, two near-copies
 * of one method (classical and robust Mahalanobis, say) would weigh the consensus towards it.
 */
export async function chooseFirstStage(candidates: Detector[], last: Detector, X: MatrixLike, options: ChooseFirstStageOptions = {}): Promise<FirstStageChoice> {
  if (!Array.isArray(candidates) || candidates.length === 0) throw new OptionError('chooseFirstStage needs a non-empty array of candidate detectors');
  candidates.forEach((d, j) => {
    if (!(d instanceof Detector)) throw new OptionError(`chooseFirstStage: candidates[${j}] must be a nadir detector`);
  });
  if (!(last instanceof Detector)) throw new OptionError('chooseFirstStage: last must be a nadir detector');
  if (options === null || typeof options !== 'object') throw new OptionError('chooseFirstStage options must be an object');
  for (const k of Object.keys(options)) if (!CHOOSE_KNOWN.includes(k)) throw new OptionError(`Unknown option '${k}' for chooseFirstStage (known: ${CHOOSE_KNOWN.join(', ')})`);
  const maxCost = optNumber('chooseFirstStage', 'maxCost', options.maxCost, 0.25, 0, 1e6, true);
  const share = optNumber('chooseFirstStage', 'contamination', options.contamination, last.contamination, 0, 0.5, true);
  let judges: Detector[];
  if (options.judges === undefined) {
    judges = [new IsolationForest({ seed: last.seed }), new ECOD()];
  } else {
    if (!Array.isArray(options.judges)) throw new OptionError("chooseFirstStage option 'judges' must be an array of detectors");
    options.judges.forEach((d, j) => {
      if (!(d instanceof Detector)) throw new OptionError(`chooseFirstStage: judges[${j}] must be a nadir detector`);
    });
    judges = options.judges;
  }
  const all = [...candidates, last, ...judges];
  for (const d of all) if (!d.fitted) await d.fit(X);
  const scores = await Promise.all(all.map((d) => d.score(X)));
  const n = scores[0].length;
  if (n < 2) throw new DataError(`chooseFirstStage needs at least 2 rows but X has ${n}`);
  const consensus = new Float64Array(n);
  all.forEach((d, j) => {
    const e = d.normalize(scores[j], 'ecdf');
    for (let r = 0; r < n; r++) consensus[r] += e[r];
  });
  const top = Math.min(n - 1, Math.max(1, Math.round(share * n)));
  const order = Array.from({ length: n }, (_, r) => r).sort((a, b) => consensus[b] - consensus[a] || a - b);
  const flags = new Uint8Array(n);
  for (let k = 0; k < top; k++) flags[order[k]] = 1;
  const agreement = candidates.map((_, j) => rocAuc(scores[j], flags));
  const lastCost = last.costPerRow;
  const costShare = candidates.map((d) => {
    const c = d.costPerRow;
    return c === undefined || lastCost === undefined || !(lastCost > 0) ? undefined : c / lastCost;
  });
  let eligible = costShare.map((c) => c === undefined || c <= maxCost);
  if (!eligible.some(Boolean)) {
    const least = Math.min(...costShare.map((c) => c!));
    eligible = costShare.map((c) => c === least);
  }
  let index = -1;
  for (let j = 0; j < agreement.length; j++) if (eligible[j] && (index < 0 || agreement[j] > agreement[index])) index = j;
  return { stage: candidates[index], index, agreement, costShare, eligible };
}

registerDetector('Cascade', (o) => new Cascade(o, LOADING));
