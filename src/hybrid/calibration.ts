// Calibration: raw detector scores -> [0, 1], monotone, comparable across detectors, learned from the
// training-score distribution (a 1001-point quantile table plus mean and standard deviation).
import { native } from '../binding';
import { OptionError } from '../errors';

/**
 * - 'ecdf' (default): interpolated rank among the training scores (0 at or below the minimum, 1 at or
 *   above the maximum); robust, scale-free, the natural scale for quantile-based routing.
 * - 'zscore': the standard normal CDF of the z-score, Phi((s - mean) / std): 0.5 at the training mean,
 *   strictly increasing, never clipped (distinguishes rows beyond the training range, unlike 'ecdf').
 * - 'unify': PyOD's unification, max(0, erf((s - mean) / (std sqrt 2))): 0 up to the mean, then rising
 *   to 1 (the probability-like scale of Kriegel et al. 2011).
 * - 'minmax': (s - min) / (max - min) over the training scores, clipped to [0, 1].
 */
export type CalibrationMethod = 'ecdf' | 'zscore' | 'unify' | 'minmax';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['ecdf', 'zscore', 'unify', 'minmax'];

export interface CalibrationTable {
  /** Training-score quantiles at k / (length - 1), ascending. */
  quantiles: Float32Array;
  mean: number;
  std: number;
}

/** erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit). */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

/** Standard normal CDF. */
export function normalCdf(z: number): number {
  return 0.5 * (1 + erf(z / Math.SQRT2));
}

/** Interpolated rank of s in the quantile table, in [0, 1]. */
export function ecdfAt(q: Float32Array, s: number): number {
  const n = q.length;
  if (!(s > q[0])) return 0;
  if (s >= q[n - 1]) return 1;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (q[mid] <= s) lo = mid;
    else hi = mid;
  }
  // Last knot <= s is lo; ties at lo's value resolve to the upper end of the flat run.
  const span = q[hi] - q[lo];
  return (lo + (span > 0 ? (s - q[lo]) / span : 0)) / (n - 1);
}

const KIND: Record<string, number> = { ecdf: 0, zscore: 1, unify: 2, minmax: 3 };

function badMethod(method: unknown): never {
  throw new OptionError(`Expected one of ${CALIBRATION_METHODS.map((m) => `'${m}'`).join(', ')} for the calibration method but received ${JSON.stringify(method)}`);
}

/** Maps raw scores to [0, 1] with the given method (native, one pass); `out` may be passed to avoid an allocation. */
export function calibrate(cal: CalibrationTable, scores: ArrayLike<number>, method: CalibrationMethod, out = new Float32Array(scores.length)): Float32Array {
  const kind = KIND[method as string];
  if (kind === undefined || !Object.prototype.hasOwnProperty.call(KIND, method)) badMethod(method);
  const s = scores instanceof Float32Array ? scores : Float32Array.from(scores);
  native.calibrate(s, cal.quantiles, cal.mean, cal.std, kind, 0, out);
  return out;
}

/**
 * The cascade's scale: (1 - w) * ecdf + w * (0.5 + 0.5 z / (1 + |z|)), strictly increasing, so rows
 * beyond the training range stay ordered.
 */
export function calibrateTieBreak(cal: CalibrationTable, scores: Float32Array, w: number, out = new Float32Array(scores.length)): Float32Array {
  native.calibrate(scores, cal.quantiles, cal.mean, cal.std, 4, w, out);
  return out;
}

/** The TypeScript reference of `calibrate` (the native kernel is tested against it). */
export function calibrateReference(cal: CalibrationTable, scores: ArrayLike<number>, method: CalibrationMethod, out = new Float32Array(scores.length)): Float32Array {
  const q = cal.quantiles;
  const sd = cal.std > 0 ? cal.std : 1;
  switch (method) {
    case 'ecdf':
      for (let i = 0; i < scores.length; i++) out[i] = ecdfAt(q, scores[i]);
      break;
    case 'zscore':
      for (let i = 0; i < scores.length; i++) out[i] = normalCdf((scores[i] - cal.mean) / sd);
      break;
    case 'unify':
      for (let i = 0; i < scores.length; i++) out[i] = Math.max(0, erf((scores[i] - cal.mean) / (sd * Math.SQRT2)));
      break;
    case 'minmax': {
      const lo = q[0];
      const span = q[q.length - 1] - lo;
      for (let i = 0; i < scores.length; i++) out[i] = span > 0 ? Math.min(1, Math.max(0, (scores[i] - lo) / span)) : 0;
      break;
    }
    default:
      badMethod(method);
  }
  return out;
}
