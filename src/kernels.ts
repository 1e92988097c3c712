import { native } from './binding';
import { Matrix, MatrixLike, toMatrix, assertFinite } from './data/matrix';
import { DataError, OptionError } from './errors';

export type ErrorKind = 'squared' | 'absolute';

export interface ReconstructionError {
  /** Per-row error: the sum over features. */
  scores: Float32Array;
  /** Per-feature terms (rows x cols) when requested; each row sums to its score. */
  contributions?: Matrix;
}

/**
 * Per-row reconstruction error between X and a reconstruction R of the same shape, computed by the
 * native SIMD kernel: sum over features of (x - r)^2 ('squared', default) or |x - r| ('absolute').
 * `out` (a Float32Array of X.rows values) is reused for the scores instead of allocating.
 */
export function reconstructionError(
  X: MatrixLike,
  R: MatrixLike,
  opts: { kind?: ErrorKind; contributions?: boolean; out?: Float32Array } = {},
): ReconstructionError {
  const x = toMatrix(X, { name: 'X' });
  const r = toMatrix(R, { name: 'reconstruction', cols: x.cols });
  if (x.rows !== r.rows || x.cols !== r.cols)
    throw new DataError(`reconstruction is ${r.rows} x ${r.cols} but X is ${x.rows} x ${x.cols}`);
  const kind = opts.kind ?? 'squared';
  if (kind !== 'squared' && kind !== 'absolute') throw new OptionError(`Expected 'squared' or 'absolute' for kind but received '${String(kind)}'`);
  let scores = opts.out;
  if (scores === undefined) scores = new Float32Array(x.rows);
  else if (!(scores instanceof Float32Array) || scores.length !== x.rows)
    throw new OptionError(`Expected a Float32Array of ${x.rows} values for out but received ${scores instanceof Float32Array ? `one of ${scores.length}` : typeof scores}`);
  const contrib = opts.contributions ? new Float32Array(x.rows * x.cols) : null;
  native.reconError(x.data, r.data, x.rows, x.cols, kind === 'squared' ? 0 : 1, scores, contrib);
  // NaN and +-Inf propagate into the row sums, so the inputs are read once: only a non-finite
  // score sends us back to find and name the offending value (a finite overflow stays Infinity).
  if (native.firstNonFinite(scores) >= 0) {
    assertFinite(x, 'X');
    assertFinite(r, 'reconstruction');
  }
  return { scores, contributions: contrib ? new Matrix(contrib, x.rows, x.cols) : undefined };
}

export type SimdLevel = 'auto' | 'scalar' | 'avx2' | 'avx512';

/** SIMD level the CPU supports (`detected`) and the one kernels use now (`active`). */
export function simdInfo(): { detected: string; active: string } {
  return native.simdInfo();
}

/**
 * Forces the kernels to a SIMD level ('scalar' for the reference path), or back to 'auto'.
 * The environment variable NADIR_FORCE_SCALAR=1 does the same at startup. Process-wide.
 */
export function setSimd(level: SimdLevel): string {
  return native.setSimd(level);
}
