import { Matrix } from '../data/matrix';
import { ModelFileError, NadirError, OptionError } from '../errors';
import { optBool, optInt } from '../options';
import { Detector, DetectorOptions, DetectorState, detectorFromBytes, expectArray, registerDetector } from '../detectors/base';
import { CombineMethod, CombinePlan, COMBINE_METHODS, bucketGroups, combineScores, combineWeights, scaleRows } from './combine';

export interface EnsembleOptions extends DetectorOptions {
  /** Required: two or more detectors (unfitted, or fitted ones to be refitted); `fit` fits them all in parallel. */
  members: Detector[];
  /**
   * How calibrated member scores (each member's `normalize` with this ensemble's `calibration`
   * method, default 'ecdf') become one score: 'average' (default), 'max', 'median', 'aom' (average of
   * bucket maxima), 'moa' (maximum of bucket averages), or one non-negative weight per member.
   */
  combine?: CombineMethod | number[];
  /** Number of random member buckets for 'aom' and 'moa' (seeded by `seed`). Default: min(5, floor(members / 2)), at least 1. */
  buckets?: number;
  /** false: members that are already fitted are kept as they are (only the ensemble's calibration and threshold are fitted on X). Default true: `fit` refits every member. */
  refit?: boolean;
}

const OWNER = 'Ensemble';
const KNOWN = ['combine', 'buckets', 'refit'] as const;
const LOADING = Symbol('loading');

/** Splits the members off (they are detectors, not JSON) and checks the options object itself. */
function membersOf(options: unknown, loading: boolean): { members: Detector[]; rest: Omit<EnsembleOptions, 'members'> } {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new OptionError(`${OWNER} options must be an object { members, combine, ... } but received ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  const { members, ...rest } = options as EnsembleOptions;
  if (loading) return { members: [], rest };
  if (!Array.isArray(members)) throw new OptionError(`${OWNER} option 'members' must be an array of detectors but received ${members === undefined ? 'nothing' : typeof members}`);
  if (members.length < 2) throw new OptionError(`${OWNER} option 'members' needs at least 2 detectors but received ${members.length}`);
  members.forEach((m, j) => {
    if (!(m instanceof Detector)) throw new OptionError(`${OWNER} option 'members[${j}]' must be a nadir detector but received ${m === null ? 'null' : typeof m === 'object' ? (m as object).constructor?.name ?? 'an object' : typeof m}`);
    if (members.indexOf(m) !== j) throw new OptionError(`${OWNER} option 'members' holds the same ${m.type} instance twice (members[${members.indexOf(m)}] and members[${j}]); pass separate detectors`);
  });
  return { members: [...members], rest };
}

/**
 * Several detectors as one: members are fitted and scored in parallel (their native work runs off the
 * main thread), their scores calibrated to [0, 1] and combined. Keeps the whole detector contract:
 * threshold, predict, normalize, explain (weighted member explanations), save/load with the members
 * stored inside the model file.
 */
export class Ensemble extends Detector<Omit<EnsembleOptions, 'members'> & DetectorOptions> {
  readonly type = 'Ensemble';
  private membersValue: Detector[];
  private plan!: CombinePlan;
  private readonly bucketsValue?: number;
  private readonly refit: boolean;

  constructor(options: EnsembleOptions);
  /** @internal */
  constructor(options: EnsembleOptions, loading: typeof LOADING);
  constructor(options: EnsembleOptions, loading?: typeof LOADING) {
    const { members, rest } = membersOf(options, loading === LOADING);
    super(OWNER, rest, KNOWN);
    this.membersValue = members;
    this.refit = optBool(OWNER, 'refit', rest.refit, true);
    if (rest.buckets !== undefined) this.bucketsValue = optInt(OWNER, 'buckets', rest.buckets, 1, 1, 1 << 20);
    if (loading !== LOADING) this.plan = this.makePlan(members.length);
    else this.parseCombine(); // validate early; the plan is rebuilt once members are loaded
  }

  /** The members' costs added up (undefined when one of them has no estimate). */
  get costPerRow(): number | undefined {
    let sum = 0;
    for (const d of this.membersValue) {
      const c = d.costPerRow;
      if (c === undefined) return undefined;
      sum += c;
    }
    return sum;
  }
  /** The member detectors (fitted after `fit` or `load`). */
  get members(): readonly Detector[] {
    return this.membersValue;
  }

  /** The combination rule in use, with weights or buckets filled in. */
  get combination(): Readonly<CombinePlan> {
    return this.plan;
  }

  private parseCombine(): CombineMethod | number[] {
    const c = this.options.combine;
    if (c === undefined) return 'average';
    if (Array.isArray(c)) {
      c.forEach((w, j) => {
        if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new OptionError(`${OWNER} option 'combine[${j}]' must be a finite weight >= 0 but received ${JSON.stringify(w)}`);
      });
      if (!(c.reduce((a, b) => a + b, 0) > 0)) throw new OptionError(`${OWNER} option 'combine' weights must not all be 0`);
      return c;
    }
    if (typeof c !== 'string' || !COMBINE_METHODS.includes(c as CombineMethod))
      throw new OptionError(`Expected one of ${COMBINE_METHODS.map((m) => `'${m}'`).join(', ')} or an array of weights for ${OWNER} option 'combine' but received ${JSON.stringify(c)}`);
    return c;
  }

  private makePlan(k: number): CombinePlan {
    const c = this.parseCombine();
    if (Array.isArray(c)) {
      if (c.length !== k) throw new OptionError(`${OWNER} option 'combine' has ${c.length} weights but there are ${k} members`);
      const total = c.reduce((a, b) => a + b, 0);
      return { method: 'weighted', weights: c.map((w) => w / total) };
    }
    if (c === 'aom' || c === 'moa') {
      const buckets = this.bucketsValue ?? Math.max(1, Math.min(5, Math.floor(k / 2)));
      if (buckets > k) throw new OptionError(`${OWNER} option 'buckets' is ${buckets} but there are only ${k} members`);
      return { method: c, groups: bucketGroups(k, buckets, this.seed) };
    }
    if (this.bucketsValue !== undefined) throw new OptionError(`${OWNER} option 'buckets' applies only to combine 'aom' or 'moa' (combine is '${c}')`);
    return { method: c };
  }

  protected get minFitRows(): number {
    return 2;
  }

  private calibrated(scores: Float32Array[]): Float32Array[] {
    return scores.map((s, j) => this.membersValue[j].normalize(s, this.calibrationMethod));
  }

  protected async fitMatrix(m: Matrix): Promise<Float32Array> {
    const scores = await Promise.all(this.membersValue.map((d) => (this.refit || !d.fitted ? d.fitForRows(m) : d.score(m))));
    return combineScores(this.calibrated(scores), this.plan);
  }

  protected async scoreMatrix(m: Matrix): Promise<Float32Array> {
    const scores = await Promise.all(this.membersValue.map((d) => d.score(m)));
    return combineScores(this.calibrated(scores), this.plan);
  }

  protected scoreMatrixSync(m: Matrix): Float32Array {
    return combineScores(this.calibrated(this.membersValue.map((d) => d.scoreSync(m))), this.plan);
  }

  /** Each member's calibrated scores, e.g. to see which member flags a row. */
  async memberScores(X: Parameters<Detector['score']>[0]): Promise<Float32Array[]> {
    const m = this.prepareInput(X);
    return this.calibrated(await Promise.all(this.membersValue.map((d) => d.score(m))));
  }

  /**
   * Each member's explanation is rescaled so a row's contributions sum to that member's calibrated
   * score, then members are weighted as the combination weighs them on that row (see combineWeights);
   * contributions of a row therefore sum to its ensemble score.
   */
  protected async explainMatrix(m: Matrix): Promise<Float32Array> {
    const expl = await Promise.all(
      this.membersValue.map((d, j) =>
        d.explain(m).catch((e: Error) => {
          throw new NadirError(`Ensemble.explain needs an explanation from every member, but members[${j}] (${d.type}) cannot give one: ${e.message}`);
        }),
      ),
    );
    const cal = this.calibrated(await Promise.all(this.membersValue.map((d) => d.score(m))));
    const w = combineWeights(cal, this.plan);
    const out = new Float32Array(m.rows * m.cols);
    expl.forEach((e, j) => {
      const scaled = scaleRows(e.data, m.rows, m.cols, cal[j]);
      for (let i = 0; i < m.rows; i++) {
        const wi = w[j][i];
        if (wi === 0) continue;
        for (let c = 0; c < m.cols; c++) out[i * m.cols + c] += wi * scaled[i * m.cols + c];
      }
    });
    return out;
  }

  protected exportState(): DetectorState {
    const arrays: Record<string, Uint8Array> = {};
    this.membersValue.forEach((d, j) => (arrays[`member.${j}`] = d.toBytes()));
    return { meta: { members: this.membersValue.length, memberTypes: this.membersValue.map((d) => d.type), plan: this.plan }, arrays };
  }

  protected importState(state: DetectorState): void {
    const k = state.meta.members;
    if (!Number.isInteger(k) || (k as number) < 1) throw new ModelFileError('the ensemble member count is missing');
    const members: Detector[] = [];
    for (let j = 0; j < (k as number); j++) members.push(detectorFromBytes(expectArray(state.arrays, `member.${j}`, Uint8Array), `ensemble member ${j}`));
    this.membersValue = members;
    const plan = state.meta.plan as CombinePlan | undefined;
    if (!plan || typeof plan.method !== 'string') throw new ModelFileError('the ensemble combination rule is missing');
    if ((plan.method === 'aom' || plan.method === 'moa') && (!Array.isArray(plan.groups) || plan.groups.some((g) => !Array.isArray(g) || g.length === 0 || g.some((j) => !Number.isInteger(j) || j < 0 || j >= (k as number)))))
      throw new ModelFileError('the ensemble buckets are invalid');
    if (plan.method === 'weighted' && (!Array.isArray(plan.weights) || plan.weights.length !== k)) throw new ModelFileError('the ensemble weights do not match its members');
    this.plan = plan;
  }
}

registerDetector('Ensemble', (o) => new Ensemble(o, LOADING));
