import { native } from '../binding';
import { Matrix } from '../data/matrix';
import { DataError, OptionError } from '../errors';
import { optBool, optEnum, optInt, optNumber } from '../options';
import { Detector, DetectorOptions, DetectorState, expectArray, registerDetector } from './base';
import { transpose } from './mahalanobis';

export type PCAScore = 'weighted' | 'projection' | 'reconstruction';

export interface PCAOptions extends DetectorOptions {
  /** Standardize features (zero mean, unit population variance) before PCA, as PyOD does. Default true. */
  standardize?: boolean;
  /**
   * How rows are scored (higher = more anomalous):
   * - 'weighted' (default): PyOD's PCA score, sum over the kept components v_k of |u - v_k| / r_k,
   *   with u the standardized row and r_k the component's share of the total variance. (PyOD
   *   describes it as Shyu et al.'s eigenvalue-weighted score; its code measures the distance from
   *   the row to each unit eigenvector, which is what this reproduces, scikit-learn's component
   *   signs included. Rows are always centered; PyOD skips centering when standardization is off.)
   * - 'projection': Shyu et al. (2003), sum over the kept components of (v_k . u)^2 / lambda_k; with
   *   all components this is the Mahalanobis distance.
   * - 'reconstruction': squared error of reconstructing u from the kept (top) components.
   */
  score?: PCAScore;
  /** Number of top components kept. Default: all for 'weighted' and 'projection'; see varianceExplained for 'reconstruction'. */
  components?: number;
  /**
   * Keep the fewest top components whose share of the variance exceeds this fraction, (0, 1].
   * Default for 'reconstruction': 0.9 (and never all components, which would reconstruct exactly).
   */
  varianceExplained?: number;
}

const OWN = ['standardize', 'score', 'components', 'varianceExplained'] as const;

/**
 * Eigenvalues below this fraction of the largest are rounding noise of exactly dependent features
 * (PyOD divides by them as they are, giving weights near 1e17); they are raised to it, which keeps
 * scores finite and the ranking unchanged.
 */
const EIGEN_FLOOR = 1e-9;

/**
 * Principal component analysis detector. Fit: standardization, covariance and a symmetric
 * eigendecomposition (Householder + implicit QL) in double. Scoring runs the native SIMD
 * projection kernel (weighted, projection) or the reconstruction-error kernel.
 */
export class PCA extends Detector<PCAOptions> {
  readonly type = 'PCA';
  // Projection and reconstruction scoring are arithmetic only, so NaN/Inf always reach the score;
  // the weighted (PyOD) distance clamps at zero, which can hide a NaN, so it keeps the full scan.
  protected get nonFiniteInputShowsInScore(): boolean {
    return this.scoreKind !== 'weighted';
  }
  private readonly standardize: boolean;
  private readonly scoreKind: PCAScore;
  private readonly componentsOpt: number | undefined;
  private readonly varianceOpt: number | undefined;
  private state?: {
    mean: Float32Array;
    scale: Float32Array;
    values: Float64Array; // all d eigenvalues, descending (covariance divided by n - 1)
    components: Float32Array; // k x d unit vectors
    k: number;
    // Derived for the kernels:
    matrix: Float32Array; // k x d
    weight: Float32Array; // k
    matrixT: Float32Array; // d x k, for the single-row latency path
    componentsT: Float32Array; // d x k
  };

  constructor(options?: PCAOptions) {
    super('PCA', options, OWN);
    const o = this.options;
    this.standardize = optBool('PCA', 'standardize', o.standardize, true);
    this.scoreKind = optEnum('PCA', 'score', o.score, ['weighted', 'projection', 'reconstruction'] as const, 'weighted');
    this.componentsOpt = o.components === undefined ? undefined : optInt('PCA', 'components', o.components, 1, 1, 100000);
    this.varianceOpt = o.varianceExplained === undefined ? undefined : optNumber('PCA', 'varianceExplained', o.varianceExplained, 0.9, 0, 1, true);
    if (this.componentsOpt !== undefined && this.varianceOpt !== undefined)
      throw new OptionError("PCA options 'components' and 'varianceExplained' both choose the number of components: pass one");
  }

  // ------------------------------------------------------------------ fitted state (read-only)

  /** The kept components, nComponents x nFeatures row-major unit vectors (in standardized space). */
  get components(): Float32Array {
    this.ensureFitted();
    return this.state!.components.slice();
  }
  get nComponents(): number {
    this.ensureFitted();
    return this.state!.k;
  }
  /** Projections on the kept components (k d), twice for 'reconstruction' (it maps back). */
  get costPerRow(): number | undefined {
    if (!this.fitted) return undefined;
    const k = this.state!.k, d = this.nFeatures;
    return (this.scoreKind === 'reconstruction' ? 2 : 1) * k * d + d;
  }
  /** Variance along every principal axis, descending (all nFeatures of them). */
  get explainedVariance(): Float64Array {
    this.ensureFitted();
    return this.state!.values.slice();
  }
  /** Each axis' share of the total variance. */
  get explainedVarianceRatio(): Float64Array {
    this.ensureFitted();
    const v = this.state!.values;
    const total = v.reduce((a, b) => a + Math.max(0, b), 0);
    return v.map((x) => Math.max(0, x) / total);
  }
  get mean(): Float32Array {
    this.ensureFitted();
    return this.state!.mean.slice();
  }

  // ------------------------------------------------------------------ contract

  protected get minFitRows(): number {
    return 2;
  }

  protected async fitMatrix(m: Matrix): Promise<Float32Array> {
    const d = m.cols;
    if (this.componentsOpt !== undefined && this.componentsOpt > d)
      throw new DataError(`PCA option 'components' is ${this.componentsOpt} but X has only ${d} features`);
    if (this.scoreKind === 'reconstruction') {
      if (d < 2) throw new DataError("PCA score 'reconstruction' needs at least 2 features (one component must be left out)");
      if (this.componentsOpt === d)
        throw new DataError(`PCA score 'reconstruction' with all ${d} components reconstructs every row exactly: keep fewer`);
    }
    const f = await native.pcaFitAsync(m.data, m.rows, d, this.standardize, this.threadsValue);
    if (!(f.values[0] > 0)) throw new DataError('X has no variance: every feature is constant');
    const k = this.chooseK(f.values);
    this.setState({
      mean: Float32Array.from(f.mean),
      scale: Float32Array.from(f.scale),
      values: f.values,
      components: Float32Array.from(f.vectors.subarray(0, k * d)),
      k,
    });
    return this.runScore(m);
  }

  private chooseK(values: Float64Array): number {
    const d = values.length;
    if (this.componentsOpt !== undefined) return this.componentsOpt;
    const frac = this.varianceOpt ?? (this.scoreKind === 'reconstruction' ? 0.9 : undefined);
    if (frac === undefined) return d;
    let total = 0;
    for (const v of values) total += Math.max(0, v);
    let cum = 0;
    let k = d;
    for (let i = 0; i < d; i++) {
      cum += Math.max(0, values[i]) / total;
      if (cum > frac - 1e-12) {
        k = i + 1;
        break;
      }
    }
    return this.scoreKind === 'reconstruction' ? Math.min(k, d - 1) : k;
  }

  /** Builds the kernel operands from the fitted arrays (also after load). */
  private setState(s: { mean: Float32Array; scale: Float32Array; values: Float64Array; components: Float32Array; k: number }): void {
    const d = s.mean.length;
    const floor = EIGEN_FLOOR * s.values[0];
    let total = 0;
    for (const v of s.values) total += Math.max(0, v);
    const matrix = new Float32Array(s.k * d);
    const weight = new Float32Array(s.k);
    for (let r = 0; r < s.k; r++) {
      const lam = Math.max(s.values[r], floor);
      // 'weighted': rows v_r * scale (projection of the standardized row), weight 1 / variance share.
      // 'projection': additionally divided by sqrt(lambda_r) so the kernel's sum of squares is Shyu's score.
      const f = this.scoreKind === 'projection' ? 1 / Math.sqrt(lam) : 1;
      for (let j = 0; j < d; j++) matrix[r * d + j] = s.components[r * d + j] * s.scale[j] * f;
      weight[r] = total / lam;
    }
    this.state = { ...s, matrix, weight, matrixT: transpose(matrix, s.k, d), componentsT: transpose(s.components, s.k, d) };
  }

  private async runScore(m: Matrix): Promise<Float32Array> {
    const s = this.state!;
    const out = new Float32Array(m.rows);
    if (this.scoreKind === 'reconstruction')
      await native.pcaReconstructionErrorAsync(m.data, m.rows, m.cols, s.mean, s.scale, s.components, s.k, out, null, this.threadsValue);
    else
      await native.projectRowsAsync(m.data, m.rows, m.cols, s.mean, s.matrix, s.k, false, this.scoreKind === 'weighted' ? 1 : 0, s.weight, s.scale, out, this.threadsValue);
    return out;
  }

  protected scoreMatrix(m: Matrix): Promise<Float32Array> {
    return this.runScore(m);
  }

  protected scoreMatrixSync(m: Matrix): Float32Array {
    const s = this.state!;
    const out = new Float32Array(m.rows);
    if (this.scoreKind === 'reconstruction') native.pcaReconstructionError(m.data, m.rows, m.cols, s.mean, s.scale, s.components, s.k, out, null, 1, s.componentsT);
    else native.projectRows(m.data, m.rows, m.cols, s.mean, s.matrix, s.k, false, this.scoreKind === 'weighted' ? 1 : 0, s.weight, s.scale, out, s.matrixT);
    return out;
  }

  /**
   * Per-feature contributions that sum to the score:
   * - 'reconstruction': the squared error of each standardized feature (the kernel's own terms).
   * - 'weighted': |u - v_k| = sum_j (u_j - v_kj)^2 / |u - v_k|, so feature j gets
   *   sum_k w_k (u_j - v_kj)^2 / |u - v_k| (never negative).
   * - 'projection': z_j (M z)_j with M = sum_k v_k v_k^T / lambda_k, as Mahalanobis explains
   *   (shares can be negative for correlated features).
   */
  protected async explainMatrix(m: Matrix): Promise<Float32Array> {
    const s = this.state!;
    const out = new Float32Array(m.rows * m.cols);
    if (this.scoreKind === 'reconstruction') {
      const scores = new Float32Array(m.rows);
      await native.pcaReconstructionErrorAsync(m.data, m.rows, m.cols, s.mean, s.scale, s.components, s.k, scores, out, this.threadsValue);
    } else if (this.scoreKind === 'weighted') {
      await native.distanceContributionsAsync(m.data, m.rows, m.cols, s.mean, s.scale, s.components, s.k, s.weight, out);
    } else {
      await native.quadraticContributionsAsync(m.data, m.rows, m.cols, s.mean, s.matrix, s.k, out);
    }
    return out;
  }

  protected exportState(): DetectorState {
    const s = this.state!;
    return {
      meta: { k: s.k, score: this.scoreKind, standardize: this.standardize },
      arrays: { mean: s.mean, scale: s.scale, values: s.values, components: s.components },
    };
  }

  protected importState(state: DetectorState): void {
    const d = this.nFeatures;
    const k = state.meta.k;
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > d) throw new DataError(`component count ${String(k)} is invalid for ${d} features`);
    const values = expectArray(state.arrays, 'values', Float64Array, d);
    if (!(values[0] > 0)) throw new DataError('eigenvalues are invalid');
    this.setState({
      mean: expectArray(state.arrays, 'mean', Float32Array, d),
      scale: expectArray(state.arrays, 'scale', Float32Array, d),
      values,
      components: expectArray(state.arrays, 'components', Float32Array, k * d),
      k,
    });
  }
}

registerDetector('PCA', (o) => new PCA(o));
