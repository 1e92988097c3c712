// Time series as nadir sees them: a Matrix of T rows (time steps, oldest first) x C channels, with
// optional timestamps. Helpers: timestamp checks (gaps and irregular spacing are rejected, not
// silently filled), per-channel standardization and windowing.
import { Matrix, MatrixLike, toMatrix } from '../data/matrix';
import { DataError } from '../errors';
import { checkOptionNames, optInt, optNumber } from '../options';

/** Timestamps: numbers (e.g. epoch milliseconds) or Dates, one per row, strictly increasing. */
export type Timestamps = ArrayLike<number> | Date[];

export interface TimestampCheckOptions {
  /** A step longer than `tolerance` x the median step is a gap; shorter than median / tolerance is irregular. Default 1.5. */
  tolerance?: number;
}

/**
 * Checks that timestamps are finite, strictly increasing and regularly spaced; returns them as a
 * Float64Array and the median step. The forecasters assume one row per regular time step, so a gap
 * (a missing step) or irregular spacing throws a DataError naming the first offending row: resample
 * or fill the series first (for example by carrying the last value forward).
 */
export function checkTimestamps(ts: Timestamps, rows: number, opts: TimestampCheckOptions = {}): { times: Float64Array; step: number } {
  checkOptionNames('checkTimestamps', opts, ['tolerance']);
  const tol = optNumber('checkTimestamps', 'tolerance', opts.tolerance, 1.5, 1, Infinity, true);
  if (!ts || typeof (ts as ArrayLike<unknown>).length !== 'number') throw new DataError('timestamps must be an array of numbers or Dates');
  if (ts.length !== rows) throw new DataError(`timestamps has ${ts.length} entries but the series has ${rows} rows`);
  const times = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = (ts as ArrayLike<unknown>)[i];
    const t = v instanceof Date ? v.getTime() : v;
    if (typeof t !== 'number' || !Number.isFinite(t)) throw new DataError(`timestamps[${i}] is ${String(v)}, not a finite number or valid Date`);
    times[i] = t;
    if (i > 0 && !(t > times[i - 1])) throw new DataError(`timestamps must be strictly increasing: timestamps[${i}] = ${t} follows ${times[i - 1]}`);
  }
  if (rows < 3) return { times, step: rows === 2 ? times[1] - times[0] : NaN };
  const steps = new Float64Array(rows - 1);
  for (let i = 1; i < rows; i++) steps[i - 1] = times[i] - times[i - 1];
  const sorted = Float64Array.from(steps).sort();
  const step = sorted[Math.floor(sorted.length / 2)];
  for (let i = 0; i < steps.length; i++) {
    if (steps[i] > step * tol)
      throw new DataError(`timestamps have a gap before row ${i + 1} (step ${steps[i]} vs the usual ${step}); resample or fill the series to one row per step first`);
    if (steps[i] < step / tol)
      throw new DataError(`timestamps are irregular before row ${i + 1} (step ${steps[i]} vs the usual ${step}); resample the series to one row per step first`);
  }
  return { times, step };
}

/** Per-channel mean and standard deviation of training data (std floored so constant channels stay finite). */
export interface Standardizer {
  mean: Float32Array;
  std: Float32Array;
}

export function fitStandardizer(X: MatrixLike): Standardizer {
  const m = toMatrix(X);
  const C = m.cols;
  const mean = new Float64Array(C);
  const sq = new Float64Array(C);
  for (let t = 0; t < m.rows; t++) for (let c = 0; c < C; c++) mean[c] += m.data[t * C + c];
  for (let c = 0; c < C; c++) mean[c] /= Math.max(1, m.rows);
  for (let t = 0; t < m.rows; t++)
    for (let c = 0; c < C; c++) {
      const d = m.data[t * C + c] - mean[c];
      sq[c] += d * d;
    }
  const std = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const s = Math.sqrt(sq[c] / Math.max(1, m.rows));
    std[c] = s > 1e-6 * Math.max(1, Math.abs(mean[c])) ? s : 1;
  }
  return { mean: Float32Array.from(mean), std };
}

/** (x - mean) / std per channel, into a new (or the given) Float32Array. */
export function standardize(m: Matrix, s: Standardizer, out = new Float32Array(m.rows * m.cols)): Float32Array {
  const C = m.cols;
  const d = m.data;
  for (let t = 0, k = 0; t < m.rows; t++) for (let c = 0; c < C; c++, k++) out[k] = (d[k] - s.mean[c]) / s.std[c];
  return out;
}

export interface WindowOptions {
  /** Steps per input window. */
  window: number;
  /** Steps between window starts. Default 1. */
  stride?: number;
  /** Steps after each window to forecast (the targets); 0 = no targets. Default 1. */
  horizon?: number;
}

export interface Windows {
  /** n x (window * C): window i is rows starts[i] .. starts[i] + window - 1, flattened row-major. */
  inputs: Matrix;
  /** n x (horizon * C): the following `horizon` rows. */
  targets: Matrix;
  starts: Uint32Array;
}

/** Cuts a series into (input window, forecast target) pairs. */
export function makeWindows(X: MatrixLike, opts: WindowOptions): Windows {
  checkOptionNames('makeWindows', opts, ['window', 'stride', 'horizon']);
  const window = optInt('makeWindows', 'window', opts?.window, NaN, 1, 1 << 20);
  const stride = optInt('makeWindows', 'stride', opts.stride, 1, 1, 1 << 30);
  const horizon = optInt('makeWindows', 'horizon', opts.horizon, 1, 0, 1 << 20);
  if (Number.isNaN(window)) throw new DataError("makeWindows needs the option 'window'");
  const m = toMatrix(X);
  const C = m.cols;
  if (m.rows < window + horizon) throw new DataError(`the series has ${m.rows} rows but a window of ${window} plus a horizon of ${horizon} needs at least ${window + horizon}`);
  const n = Math.floor((m.rows - window - horizon) / stride) + 1;
  const inputs = new Float32Array(n * window * C);
  const targets = new Float32Array(n * horizon * C);
  const starts = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const s = i * stride;
    starts[i] = s;
    inputs.set(m.data.subarray(s * C, (s + window) * C), i * window * C);
    targets.set(m.data.subarray((s + window) * C, (s + window + horizon) * C), i * horizon * C);
  }
  return { inputs: new Matrix(inputs, n, window * C), targets: new Matrix(targets, n, horizon * C), starts };
}
