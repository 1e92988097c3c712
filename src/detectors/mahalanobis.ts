import { native } from '../binding';
import { Matrix } from '../data/matrix';
import { DataError, OptionError } from '../errors';
import { optEnum, optInt, optNumber } from '../options';
import { Detector, DetectorOptions, DetectorState, expectArray, registerDetector } from './base';

export type MahalanobisMethod = 'classical' | 'robust';

export interface MahalanobisOptions extends DetectorOptions {
  /**
   * 'classical' (default): sample mean and covariance. 'robust': Minimum Covariance Determinant
   * (FastMCD, as scikit-learn's MinCovDet: best h-subset, consistency correction, reweighting),
   * which a minority of anomalies in the training data cannot drag.
   */
  method?: MahalanobisMethod;
  /**
   * Shrinks the covariance towards mu*I (mu = mean variance): a weight in [0, 1], or 'auto' for
   * the Ledoit-Wolf estimate. Default: none. Without shrinkage a singular or nearly singular
   * covariance (a constant or exactly dependent feature) gets the smallest ridge that makes it
   * invertible (see `regularization`).
   */
  shrinkage?: number | 'auto';
  /** Robust only: share of rows in the MCD subset, (0, 1]. Default: h = floor((n + d + 1) / 2). */
  supportFraction?: number;
  /** Robust only: number of random (d+1)-subset starts. Default 500. */
  trials?: number;
}

const OWN = ['method', 'shrinkage', 'supportFraction', 'trials'] as const;

// Multiply-adds of a batch scored inline by score() (see scoreMatrix).
const INLINE_WORK = 1 << 20;

/**
 * Squared Mahalanobis distance to a Gaussian fitted to the training data (scikit-learn's
 * `mahalanobis`, PyOD's MCD score). Scoring runs a blocked SIMD kernel: the inverse Cholesky
 * factor W of the covariance whitens each row, d^2 = |W (x - location)|^2.
 */
export class Mahalanobis extends Detector<MahalanobisOptions> {
  readonly type = 'Mahalanobis';
  // Scoring is arithmetic only (centering, products, sums): NaN/Inf always reach the score.
  protected get nonFiniteInputShowsInScore(): boolean {
    return true;
  }
  private readonly method: MahalanobisMethod;
  private readonly shrinkageOpt: number | 'auto' | undefined;
  private readonly supportFraction: number | undefined;
  private readonly trials: number;
  private state?: {
    location: Float32Array;
    whitening: Float32Array;
    covariance: Float64Array;
    shrinkage: number;
    regularization: number;
    support: number;
    rawSupport: number;
    correction: number;
    whiteningT: Float32Array; // derived: transposed for the single-row latency path
  };

  constructor(options?: MahalanobisOptions) {
    super('Mahalanobis', options, OWN);
    const o = this.options;
    this.method = optEnum('Mahalanobis', 'method', o.method, ['classical', 'robust'] as const, 'classical');
    if (o.shrinkage !== undefined && o.shrinkage !== 'auto' && (typeof o.shrinkage !== 'number' || !(o.shrinkage >= 0 && o.shrinkage <= 1)))
      throw new OptionError(`Expected a number in [0, 1] or 'auto' for Mahalanobis option 'shrinkage' but received ${typeof o.shrinkage === 'string' ? `'${o.shrinkage}'` : String(o.shrinkage)}`);
    this.shrinkageOpt = o.shrinkage;
    if (this.method !== 'robust') {
      for (const name of ['supportFraction', 'trials'] as const)
        if (o[name] !== undefined) throw new OptionError(`Mahalanobis option '${name}' only applies to method 'robust'`);
    }
    this.supportFraction = o.supportFraction === undefined ? undefined : optNumber('Mahalanobis', 'supportFraction', o.supportFraction, 1, 0, 1, true);
    this.trials = optInt('Mahalanobis', 'trials', o.trials, 500, 1, 1_000_000);
  }

  // ------------------------------------------------------------------ fitted state (read-only)

  /** Fitted location (mean, or the robust location). */
  get location(): Float32Array {
    this.ensureFitted();
    return this.state!.location.slice();
  }
  /** The covariance used for scoring (after shrinkage and any regularization), d x d row-major. */
  get covariance(): Float64Array {
    this.ensureFitted();
    return this.state!.covariance.slice();
  }
  /** Shrinkage weight applied (the Ledoit-Wolf estimate for 'auto'; 0 for none). */
  get shrinkage(): number {
    this.ensureFitted();
    return this.state!.shrinkage;
  }
  /** Ridge added because the covariance was (near-)singular: 0, or eps where eps * each variance was added to it. */
  get regularization(): number {
    this.ensureFitted();
    return this.state!.regularization;
  }
  /** The triangular solve: d (d + 1) / 2 multiply-adds, plus centering. */
  get costPerRow(): number | undefined {
    if (!this.fitted) return undefined;
    const d = this.nFeatures;
    return (d * (d + 1)) / 2 + d;
  }
  /** Rows that define the estimate: all rows (classical) or those kept by the robust reweighting. */
  get support(): number {
    this.ensureFitted();
    return this.state!.support;
  }

  // ------------------------------------------------------------------ contract

  protected async fitMatrix(m: Matrix): Promise<Float32Array> {
    const d = m.cols;
    const shrink = this.shrinkageOpt === undefined ? -1 : this.shrinkageOpt === 'auto' ? -2 : this.shrinkageOpt;
    let h = 0;
    if (this.method === 'robust') {
      h = this.supportFraction === undefined ? Math.floor((m.rows + d + 1) / 2) : Math.floor(this.supportFraction * m.rows);
      if (h < d + 1)
        throw new DataError(
          `X has ${m.rows} rows: the robust Mahalanobis subset would hold ${h}, but ${d} features need at least ${d + 1}` +
            (this.supportFraction === undefined ? '' : ' (raise supportFraction)'),
        );
    } else if (m.rows < d + 1 && this.shrinkageOpt === undefined) {
      throw new DataError(`X has ${m.rows} rows but a covariance of ${d} features needs at least ${d + 1}; pass the 'shrinkage' option to fit fewer rows`);
    } else if (m.rows < 2) {
      throw new DataError('X has 1 row but Mahalanobis.fit needs at least 2');
    }
    const f = await native.gaussianFitAsync(m.data, m.rows, d, this.method === 'robust', shrink, h, this.trials, this.seed, this.threadsValue);
    this.state = {
      location: f.location,
      whitening: f.whitening,
      covariance: f.covariance,
      shrinkage: f.shrinkage,
      regularization: f.regularization,
      support: f.support,
      rawSupport: f.rawSupport,
      correction: f.correction,
      whiteningT: transpose(f.whitening, d, d),
    };
    return this.runScore(m);
  }

  private async runScore(m: Matrix): Promise<Float32Array> {
    const s = this.state!;
    const out = new Float32Array(m.rows);
    await native.projectRowsAsync(m.data, m.rows, m.cols, s.location, s.whitening, m.cols, true, 0, null, null, out, this.threadsValue);
    return out;
  }

  protected scoreMatrix(m: Matrix): Promise<Float32Array> {
    // A small batch is scored on the calling thread: the hop to the libuv pool and back costs
    // more than the work (tens of microseconds). The bound keeps the event loop stall to about
    // 20 µs at the kernel's speed (rows * costPerRow multiply-adds).
    if (m.rows * this.costPerRow! <= INLINE_WORK) return Promise.resolve(this.scoreMatrixSync(m));
    return this.runScore(m);
  }

  protected scoreMatrixSync(m: Matrix): Float32Array {
    const s = this.state!;
    const out = new Float32Array(m.rows);
    // The transposed matrix lets a few rows take the latency path (bit-identical to the batch kernel).
    native.projectRows(m.data, m.rows, m.cols, s.location, s.whitening, m.cols, true, 0, null, null, out, s.whiteningT);
    return out;
  }

  /**
   * Each feature's share of the squared distance: c_j = z_j (P z)_j with z = x - location and P
   * the precision matrix. The shares sum to the score; a share is negative when a feature's
   * deviation is explained away by a correlated feature (it lowers the distance).
   */
  protected async explainMatrix(m: Matrix): Promise<Float32Array> {
    const s = this.state!;
    const out = new Float32Array(m.rows * m.cols);
    await native.quadraticContributionsAsync(m.data, m.rows, m.cols, s.location, s.whitening, m.cols, out);
    return out;
  }

  protected exportState(): DetectorState {
    const s = this.state!;
    return {
      meta: {
        method: this.method,
        shrinkage: s.shrinkage,
        regularization: s.regularization,
        support: s.support,
        rawSupport: s.rawSupport,
        correction: s.correction,
      },
      arrays: { location: s.location, whitening: s.whitening, covariance: s.covariance },
    };
  }

  protected importState(state: DetectorState): void {
    const d = this.nFeatures;
    const loc = expectArray(state.arrays, 'location', Float32Array, d);
    const whitening = expectArray(state.arrays, 'whitening', Float32Array, d * d);
    const num = (k: string) => {
      const v = state.meta[k];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new DataError(`fitted value '${k}' is missing`);
      return v;
    };
    this.state = {
      location: loc,
      whitening,
      whiteningT: transpose(whitening, d, d),
      covariance: expectArray(state.arrays, 'covariance', Float64Array, d * d),
      shrinkage: num('shrinkage'),
      regularization: num('regularization'),
      support: num('support'),
      rawSupport: num('rawSupport'),
      correction: num('correction'),
    };
  }
}

/** rows x cols row-major -> cols x rows row-major. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

registerDetector('Mahalanobis', (o) => new Mahalanobis(o));
