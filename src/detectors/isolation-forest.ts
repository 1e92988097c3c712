import { ForestPlanHandle, native } from '../binding';
import { Matrix } from '../data/matrix';
import { ModelFileError, OptionError } from '../errors';
import { optInt } from '../options';
import { Detector, DetectorOptions, DetectorState, expectArray, registerDetector } from './base';

/** Deepest tree the flat layout allows (65535 internal nodes per tree). */
export const MAX_DEPTH = 16;

export interface IsolationForestOptions extends DetectorOptions {
  /** Number of trees. Default 100. */
  trees?: number;
  /** Rows drawn (without replacement) to grow each tree, >= 2; capped at the number of training rows. Default 256. */
  sampleSize?: number;
  /** Depth limit of each tree, 1..16. Default ceil(log2(sampleSize)) (after the cap), as in the paper and sklearn. */
  maxDepth?: number;
  /**
   * Extended isolation forest (Hariri et al. 2018): how many features each split combines, minus one.
   * 0 (default) = classic axis-parallel splits on one feature; k = hyperplane splits whose random normal
   * has k + 1 non-zero components; nFeatures - 1 = fully extended. Must be below the feature count.
   */
  extensionLevel?: number;
}

const OWN_OPTIONS = ['trees', 'sampleSize', 'maxDepth', 'extensionLevel'] as const;

// Tree walks (rows x trees) of a batch that score() runs inline; see scoreMatrix.
const INLINE_TREE_ROWS = 1 << 18;

interface Forest {
  trees: number;
  depth: number;
  sampleSize: number;
  extensionLevel: number;
  feature: Int32Array | null;
  threshold: Float32Array | null;
  normal: Float32Array | null;
  offset: Float32Array | null;
  leaf: Float32Array;
  /** Training rows per node of the complete tree (explain only). */
  count: Int32Array;
  /**
   * The forest compiled for batch scoring on this CPU (native, derived from the arrays above and never
   * saved): from fit when it scored a big calibration batch, else built on the first batch of at least
   * PLAN_BUILD_ROWS rows; null when none applies, undefined until built.
   */
  plan?: ForestPlanHandle | null;
}

/** Batches from this size on compile the forest (once; it costs about as much as scoring a few hundred rows). */
const PLAN_BUILD_ROWS = 512;

/**
 * Isolation forest (Liu, Ting & Zhou 2008): anomalies are isolated by fewer random splits. The score
 * is 2^(-E[h(x)] / c(sampleSize)) in (0, 1], comparable with scikit-learn's `-score_samples`;
 * higher = more anomalous. Trees grow in parallel natively; scoring runs a branchless SIMD
 * traversal of fixed-depth flat trees. With `extensionLevel` > 0 it is the extended isolation
 * forest (hyperplane splits: a dot product per node, several times slower to score than axis splits).
 *
 * The contamination threshold and the `normalize` table come from the training scores; on more
 * than 32768 training rows they are estimated from 32768 evenly spaced rows, so fit time does not
 * grow with the data beyond that.
 */
export class IsolationForest extends Detector<IsolationForestOptions> {
  readonly type = 'IsolationForest';
  private forest?: Forest;
  private readonly treesValue: number;
  private readonly sampleSizeValue: number;
  private readonly maxDepthValue?: number;
  private readonly extensionLevelValue: number;

  constructor(options?: IsolationForestOptions) {
    super('IsolationForest', options, OWN_OPTIONS);
    const o = this.options;
    this.treesValue = optInt('IsolationForest', 'trees', o.trees, 100, 1, 100000);
    this.sampleSizeValue = optInt('IsolationForest', 'sampleSize', o.sampleSize, 256, 2);
    this.maxDepthValue = o.maxDepth === undefined ? undefined : optInt('IsolationForest', 'maxDepth', o.maxDepth, 8, 1, MAX_DEPTH);
    this.extensionLevelValue = optInt('IsolationForest', 'extensionLevel', o.extensionLevel, 0, 0);
  }

  /** Number of trees. */
  get trees(): number {
    return this.treesValue;
  }
  /** Rows per tree actually used (after capping at the training row count). */
  get sampleSize(): number {
    this.ensureFitted();
    return this.forest!.sampleSize;
  }
  /** Depth of every tree as fitted. */
  get depth(): number {
    this.ensureFitted();
    return this.forest!.depth;
  }
  /**
   * One step per level per tree, in multiply-add equivalents (see Detector.costPerRow): an axis step
   * costs about 2 + d/4 (it reads the row's split feature; wider rows miss the cache more), a
   * hyperplane step about 10 d + 20 (a d-term dot product with gathered coefficients). Measured on
   * six benchmark datasets (6 to 100 features) against the autoencoder's multiply-adds: within 1.5x,
   * except hyperplane splits at 100 features (4x more).
   */
  get costPerRow(): number | undefined {
    if (!this.fitted) return undefined;
    const d = this.nFeatures;
    return this.trees * this.forest!.depth * (this.extensionLevelValue > 0 ? 10 * d + 20 : 2 + d / 4);
  }
  get extensionLevel(): number {
    return this.extensionLevelValue;
  }

  protected get minFitRows(): number {
    return 2;
  }

  protected async fitMatrix(m: Matrix): Promise<Float32Array> {
    if (this.extensionLevelValue > m.cols - 1)
      throw new OptionError(
        `Expected an integer in [0, ${m.cols - 1}] for IsolationForest option 'extensionLevel' (below the ${m.cols} features of X) but received ${this.extensionLevelValue}`,
      );
    const sampleSize = Math.min(this.sampleSizeValue, m.rows);
    const depth = this.maxDepthValue ?? Math.min(MAX_DEPTH, Math.max(1, Math.ceil(Math.log2(sampleSize))));
    const r = await native.forestFit(m.data, m.rows, m.cols, this.treesValue, sampleSize, depth, this.extensionLevelValue, this.seed, this.threadsValue);
    this.forest = {
      trees: this.treesValue,
      depth,
      sampleSize,
      extensionLevel: this.extensionLevelValue,
      feature: r.feature ?? null,
      threshold: r.threshold ?? null,
      normal: r.normal ?? null,
      offset: r.offset ?? null,
      leaf: r.leaf,
      count: r.count,
      plan: r.plan,
    };
    return r.scores;
  }

  /** The compiled forest for a batch of `rows` (see Forest.plan). */
  private planFor(f: Forest, cols: number, rows: number): ForestPlanHandle | null {
    if (f.plan === undefined && rows >= PLAN_BUILD_ROWS)
      f.plan = native.forestPlan(cols, f.trees, f.depth, f.sampleSize, f.feature, f.threshold, f.normal, f.offset, f.leaf);
    return f.plan ?? null;
  }

  protected scoreMatrix(m: Matrix): Promise<Float32Array> {
    const f = this.forest!;
    // A small batch is scored on the calling thread: the hop to the libuv pool and back (with the
    // forest's tables cold on the pool thread's core) cost ~150 us here, half as much again as
    // scoring 1,800 rows. The bound keeps the stall under about half a millisecond (a tree walk
    // costs 1-2 ns per row on the fast path; hyperplane splits several times that), well inside the
    // ~2 ms chunks that batch inference runs on the main thread.
    if (m.rows * f.trees * (f.normal ? 8 : 1) <= INLINE_TREE_ROWS) return Promise.resolve(this.scoreMatrixSync(m));
    const plan = this.planFor(f, m.cols, m.rows);
    return native.forestScoreAsync(m.data, m.rows, m.cols, f.trees, f.depth, f.sampleSize, f.feature, f.threshold, f.normal, f.offset, f.leaf, new Float32Array(m.rows), this.threadsValue, plan);
  }

  protected scoreMatrixSync(m: Matrix): Float32Array {
    const f = this.forest!;
    const out = new Float32Array(m.rows);
    native.forestScore(m.data, m.rows, m.cols, f.trees, f.depth, f.sampleSize, f.feature, f.threshold, f.normal, f.offset, f.leaf, out, this.threadsValue, m.rows >= 32 ? this.planFor(f, m.cols, m.rows) : null);
    return out;
  }

  /**
   * Per-feature attribution from the split paths (DIFFI-like): a split that moves the row from a
   * node of n training rows into a child of m credits its feature with log2((n + 1) / (m + 1)) bits
   * of isolation (hyperplane splits spread it by |normal component|); averaged over trees. The
   * features whose splits cut the row off from most of the data get the largest values; per tree
   * the credits sum to log2((sampleSize + 1) / (rows left with it + 1)).
   */
  protected explainMatrix(m: Matrix): Promise<Float32Array> {
    const f = this.forest!;
    return native.forestExplainAsync(m.data, m.rows, m.cols, f.trees, f.depth, f.sampleSize, f.feature, f.threshold, f.normal, f.offset, f.leaf, f.count, new Float32Array(m.rows * m.cols), this.threadsValue);
  }

  protected exportState(): DetectorState {
    const f = this.forest!;
    const arrays: DetectorState['arrays'] = { leaf: f.leaf, count: f.count };
    if (f.feature) {
      arrays.feature = f.feature;
      arrays.threshold = f.threshold!;
    } else {
      arrays.normal = f.normal!;
      arrays.offset = f.offset!;
    }
    return { meta: { trees: f.trees, depth: f.depth, sampleSize: f.sampleSize, extensionLevel: f.extensionLevel }, arrays };
  }

  protected importState(state: DetectorState): void {
    const { meta, arrays } = state;
    const int = (name: string, lo: number, hi: number) => {
      const v = meta[name];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new ModelFileError(`forest field '${name}' is missing or out of range`);
      return v;
    };
    const cols = this.nFeatures;
    const trees = int('trees', 1, 100000);
    const depth = int('depth', 1, MAX_DEPTH);
    const sampleSize = int('sampleSize', 2, 2 ** 31 - 1);
    const extensionLevel = int('extensionLevel', 0, cols - 1);
    const internal = trees * (2 ** depth - 1);
    const leaf = expectArray(arrays, 'leaf', Float32Array, trees * 2 ** depth);
    const hyper = extensionLevel > 0;
    const f: Forest = {
      trees,
      depth,
      sampleSize,
      extensionLevel,
      feature: hyper ? null : expectArray(arrays, 'feature', Int32Array, internal),
      threshold: hyper ? null : expectArray(arrays, 'threshold', Float32Array, internal),
      normal: hyper ? expectArray(arrays, 'normal', Float32Array, internal * cols) : null,
      offset: hyper ? expectArray(arrays, 'offset', Float32Array, internal) : null,
      leaf,
      count: expectArray(arrays, 'count', Int32Array, trees * (2 ** (depth + 1) - 1)),
    };
    const problem = native.forestCheck(cols, trees, depth, sampleSize, f.feature, f.threshold, f.normal, f.offset, f.leaf, f.count);
    if (problem) throw new ModelFileError(problem);
    this.forest = f;
  }
}

registerDetector('IsolationForest', (o) => new IsolationForest(o));
