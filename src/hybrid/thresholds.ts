// Score thresholds: a fixed value, a contamination quantile, and label-free automatic methods
// (SPOT peaks-over-threshold, MAD, IQR), all computed from a summary of the training scores.
import { OptionError } from '../errors';

/**
 * How a detector picks the score above which `predict` flags a row.
 * - a number, or `{ method: 'fixed', value }`: that raw score.
 * - `{ method: 'contamination', contamination? }`: the (1 - contamination) quantile of training scores
 *   (the detector's `contamination` option when omitted). This is the default.
 * - `{ method: 'spot', risk?, level? }`: SPOT (Siffer et al., KDD 2017): fit a generalized Pareto
 *   distribution to the training scores above the `level` quantile (default 0.98) and return the score
 *   exceeded with probability `risk` (default 1e-3) under that tail model; extrapolates beyond the data.
 * - `{ method: 'mad', k? }`: median + k * 1.4826 * MAD (MAD scaled to a standard deviation under
 *   normality, so k reads as "robust sigmas"); default k = 3.
 * - `{ method: 'iqr', k? }`: Q3 + k * (Q3 - Q1) (Tukey's fence); default k = 1.5.
 * The strings 'contamination', 'spot', 'mad' and 'iqr' are shorthands for the method with defaults.
 */
export type ThresholdSpec =
  | number
  | 'contamination'
  | 'spot'
  | 'mad'
  | 'iqr'
  | { method: 'fixed'; value: number }
  | { method: 'contamination'; contamination?: number }
  | { method: 'spot'; risk?: number; level?: number }
  | { method: 'mad'; k?: number }
  | { method: 'iqr'; k?: number };

export type ThresholdMethod = 'fixed' | 'contamination' | 'spot' | 'mad' | 'iqr';

/** The chosen threshold and why. */
export interface ThresholdInfo {
  method: ThresholdMethod;
  /** The raw-score threshold `predict` uses. */
  value: number;
  /** One sentence saying how the value was found. */
  reason: string;
  /** Parameters used (defaults filled in) and fitted values (e.g. SPOT's tail shape). */
  params: Record<string, number>;
}

/** Canonical, validated form of a threshold spec: every parameter filled in. */
export type ParsedThreshold =
  | { method: 'fixed'; value: number }
  | { method: 'contamination'; contamination: number }
  | { method: 'spot'; risk: number; level: number }
  | { method: 'mad'; k: number }
  | { method: 'iqr'; k: number };

const METHODS = ['fixed', 'contamination', 'spot', 'mad', 'iqr'];

/** Validates a threshold option, naming the offending field. */
export function parseThreshold(owner: string, spec: unknown, contamination: number, name = 'threshold'): ParsedThreshold {
  const bad = (why: string): never => {
    throw new OptionError(`${owner} option '${name}' ${why}`);
  };
  if (typeof spec === 'number') {
    if (!Number.isFinite(spec)) bad(`must be a finite number but received ${spec}`);
    return { method: 'fixed', value: spec };
  }
  if (typeof spec === 'string') {
    if (!METHODS.includes(spec) || spec === 'fixed')
      bad(`must be a number, 'contamination', 'spot', 'mad', 'iqr' or an object { method, ... } but received '${spec}'`);
    spec = { method: spec };
  }
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec))
    bad(`must be a number, a method name or an object { method, ... } but received ${spec === null ? 'null' : Array.isArray(spec) ? 'an array' : typeof spec}`);
  const o = spec as Record<string, unknown>;
  const method = o.method;
  if (typeof method !== 'string' || !METHODS.includes(method))
    bad(`needs 'method' to be one of ${METHODS.map((m) => `'${m}'`).join(', ')} but received ${JSON.stringify(method)}`);
  const allowed: Record<string, string[]> = { fixed: ['value'], contamination: ['contamination'], spot: ['risk', 'level'], mad: ['k'], iqr: ['k'] };
  for (const key of Object.keys(o))
    if (key !== 'method' && !allowed[method as string].includes(key))
      bad(`has an unknown field '${key}' for method '${method}' (known: ${allowed[method as string].join(', ')})`);
  const num = (key: string, def: number | undefined, ok: (v: number) => boolean, what: string): number => {
    const v = o[key];
    if (v === undefined) {
      if (def === undefined) bad(`needs '${key}' (${what}) for method '${method}'`);
      return def as number;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) bad(`field '${key}' must be ${what} but received ${JSON.stringify(v)}`);
    return v as number;
  };
  switch (method) {
    case 'fixed':
      return { method, value: num('value', undefined, () => true, 'a finite number') };
    case 'contamination':
      return { method, contamination: num('contamination', contamination, (v) => v > 0 && v <= 0.5, 'a number in (0, 0.5]') };
    case 'spot': {
      const level = num('level', 0.98, (v) => v >= 0.5 && v < 1, 'a number in [0.5, 1)');
      const risk = num('risk', 1e-3, (v) => v > 0 && v < 1 - level, `a number in (0, ${+(1 - level).toPrecision(6)}) (below 1 - level, the share of scores above the initial threshold)`);
      return { method, risk, level };
    }
    case 'mad':
      return { method, k: num('k', 3, (v) => v >= 0, 'a number >= 0') };
    default:
      return { method: 'iqr', k: num('k', 1.5, (v) => v >= 0, 'a number >= 0') };
  }
}

/** What thresholds are computed from: robust summary statistics plus the top of the sorted training scores. */
export interface ScoreSummary {
  n: number;
  mean: number;
  std: number;
  median: number;
  /** Median absolute deviation from the median (unscaled). */
  mad: number;
  q1: number;
  q3: number;
}

/** Training scores as seen by threshold methods: exact quantiles where the tail covers them, else the calibration table. */
export interface ScoreSource {
  summary: ScoreSummary;
  /** The largest training scores, ascending (the top `tail.length` of `n`). */
  tail?: Float32Array;
  /** quantile(p) of the training scores. */
  quantile(p: number): number;
}

/** Number of top training scores a model keeps for thresholds set after fit (SPOT needs the upper tail). */
export function tailSize(n: number): number {
  return Math.min(n, Math.max(1000, Math.ceil(0.05 * n)), 20000);
}

/** Summary of ascending-sorted scores. */
export function summarize(sorted: Float64Array): ScoreSummary {
  const n = sorted.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += sorted[i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (sorted[i] - mean) ** 2;
  const median = quantileOf(sorted, 0.5);
  return { n, mean, std: Math.sqrt(v / n), median, mad: medianAbsDeviation(sorted, median), q1: quantileOf(sorted, 0.25), q3: quantileOf(sorted, 0.75) };
}

/**
 * Median of |sorted[i] - median| without sorting the deviations: below the median they fall as i
 * grows, above it they rise, so the two runs are merged from the median outwards up to the middle.
 */
function medianAbsDeviation(sorted: Float64Array, median: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (Number.isNaN(sorted[n - 1])) {
    const dev = new Float64Array(n);
    for (let i = 0; i < n; i++) dev[i] = Math.abs(sorted[i] - median);
    return quantileOf(dev.sort(), 0.5);
  }
  let r = 0;
  while (r < n && sorted[r] < median) r++;
  let l = r - 1;
  const pos = 0.5 * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  let a = 0;
  let b = 0;
  for (let k = 0; k <= hi; k++) {
    // Next smallest deviation: from the left run (median - sorted[l]) or the right (sorted[r] - median).
    let d: number;
    if (l >= 0 && (r >= n || median - sorted[l] <= sorted[r] - median)) d = median - sorted[l--];
    else d = sorted[r++] - median;
    if (k === lo) a = d;
    if (k === hi) b = d;
  }
  return a + (b - a) * (pos - lo);
}

/** Linear-interpolated quantile of sorted values (numpy's default). */
export function quantileOf(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const fmt = (x: number) => (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e6 ? String(+x.toPrecision(6)) : x.toExponential(4));

/** Computes the threshold a parsed spec asks for. */
export function computeThreshold(spec: ParsedThreshold, src: ScoreSource): ThresholdInfo {
  const s = src.summary;
  switch (spec.method) {
    case 'fixed':
      return { method: 'fixed', value: spec.value, reason: `fixed by the user at ${fmt(spec.value)}`, params: { value: spec.value } };
    case 'contamination': {
      const value = src.quantile(1 - spec.contamination);
      return {
        method: 'contamination',
        value,
        reason: `the ${fmt(1 - spec.contamination)} quantile of the ${s.n} training scores (contamination ${fmt(spec.contamination)})`,
        params: { contamination: spec.contamination },
      };
    }
    case 'mad': {
      const sigma = 1.4826 * s.mad;
      const value = s.median + spec.k * sigma;
      return {
        method: 'mad',
        value,
        reason: `median ${fmt(s.median)} + ${fmt(spec.k)} x 1.4826 x MAD ${fmt(s.mad)} of the training scores`,
        params: { k: spec.k, median: s.median, mad: s.mad },
      };
    }
    case 'iqr': {
      const iqr = s.q3 - s.q1;
      const value = s.q3 + spec.k * iqr;
      return {
        method: 'iqr',
        value,
        reason: `Q3 ${fmt(s.q3)} + ${fmt(spec.k)} x IQR ${fmt(iqr)} of the training scores`,
        params: { k: spec.k, q1: s.q1, q3: s.q3 },
      };
    }
    case 'spot':
      return spot(spec.risk, spec.level, src);
  }
}

/** SPOT: generalized Pareto fit to the peaks over an initial high quantile, then the quantile at `risk`. */
function spot(risk: number, level: number, src: ScoreSource): ThresholdInfo {
  const n = src.summary.n;
  const tail = src.tail;
  if (!tail || !(n > 0)) throw new OptionError("threshold method 'spot' needs the top training scores, which this model does not hold (it was saved by an older nadir); fit it again");
  // The initial threshold t is the `level` quantile; when the kept tail is shorter than the share
  // above it (very large n), start at the lowest kept score instead (a higher level).
  let t = src.quantile(level);
  let usedLevel = level;
  if (tail.length < n && t < tail[0]) {
    t = tail[0];
    usedLevel = 1 - (tail.length - 1) / n;
  }
  const peaks: number[] = [];
  for (let i = tail.length - 1; i >= 0 && tail[i] > t; i--) peaks.push(tail[i] - t);
  const nt = peaks.length;
  const params: Record<string, number> = { risk, level, initialThreshold: t, peaks: nt };
  if (usedLevel !== level) params.usedLevel = usedLevel;
  if (nt < 10) {
    // Too few distinct peaks to fit a tail: fall back on the empirical quantile (or the maximum).
    const value = src.quantile(Math.min(1, 1 - risk));
    return { method: 'spot', value, reason: `only ${nt} training scores exceed the initial threshold ${fmt(t)} (level ${fmt(usedLevel)}), too few to fit a tail; used the empirical ${fmt(1 - risk)} quantile`, params };
  }
  const { gamma, sigma } = fitGpd(peaks);
  const r = (risk * n) / nt;
  const value = Math.abs(gamma) < 1e-12 ? t - sigma * Math.log(r) : t + (sigma / gamma) * (Math.pow(r, -gamma) - 1);
  params.gamma = gamma;
  params.sigma = sigma;
  return {
    method: 'spot',
    value,
    reason: `generalized Pareto tail (shape ${fmt(gamma)}, scale ${fmt(sigma)}) fitted to the ${nt} training scores above the ${fmt(usedLevel)} quantile ${fmt(t)}; the score exceeded with probability ${fmt(risk)}`,
    params,
  };
}

/** GPD log-likelihood of peaks y > 0 (shape gamma, scale sigma). */
export function gpdLogLik(y: ArrayLike<number>, gamma: number, sigma: number): number {
  if (!(sigma > 0)) return -Infinity;
  const n = y.length;
  if (Math.abs(gamma) < 1e-12) {
    let s = 0;
    for (let i = 0; i < n; i++) s += y[i];
    return -n * Math.log(sigma) - s / sigma;
  }
  let s = 0;
  for (let i = 0; i < n; i++) {
    const z = 1 + (gamma * y[i]) / sigma;
    if (!(z > 0)) return -Infinity;
    s += Math.log(z);
  }
  return -n * Math.log(sigma) - (1 + 1 / gamma) * s;
}

/**
 * Maximum-likelihood GPD fit by Grimshaw's reduction (1993): with x = gamma / sigma, the likelihood
 * equations reduce to one equation u(x) v(x) = 1, u(x) = mean 1 / (1 + x y), v(x) = 1 + mean log(1 + x y).
 * Every root on (-1 / max y, 0) and (0, 2 (mean - min) / min^2) is found by a scan plus bisection; the
 * candidate (including the exponential gamma = 0) with the highest likelihood wins.
 */
export function fitGpd(y: ArrayLike<number>): { gamma: number; sigma: number } {
  const n = y.length;
  let ymin = Infinity;
  let ymax = -Infinity;
  let mean = 0;
  for (let i = 0; i < n; i++) {
    ymin = Math.min(ymin, y[i]);
    ymax = Math.max(ymax, y[i]);
    mean += y[i];
  }
  mean /= n;
  const uv = (x: number) => {
    let u = 0;
    let v = 0;
    for (let i = 0; i < n; i++) {
      const z = 1 + x * y[i];
      u += 1 / z;
      v += Math.log(z);
    }
    return { u: u / n, v: 1 + v / n };
  };
  const w = (x: number) => {
    const { u, v } = uv(x);
    return u * v - 1;
  };
  const candidates: { gamma: number; sigma: number }[] = [{ gamma: 0, sigma: mean }];
  const eps = 1e-8 / ymax;
  const lower = -1 / ymax + eps;
  // Positive side: Grimshaw's bound, kept finite when the smallest peak is ~0.
  const upper = ymin > 0 ? Math.min(2 * (mean - ymin) / (ymin * ymin), 1e6 / ymax) : 1e6 / ymax;
  const roots: number[] = [];
  // Scan ascending grid points for sign changes of w, then bisect each bracket.
  const scan = (xs: number[]) => {
    let x0 = xs[0];
    let f0 = w(x0);
    for (let k = 1; k < xs.length; k++) {
      const x1 = xs[k];
      const f1 = w(x1);
      if (Number.isFinite(f0) && Number.isFinite(f1) && f0 * f1 < 0) {
        let lo = x0;
        let hi = x1;
        let flo = f0;
        for (let it = 0; it < 80; it++) {
          const mid = (lo + hi) / 2;
          const fm = w(mid);
          if (fm * flo <= 0) hi = mid;
          else { lo = mid; flo = fm; }
        }
        roots.push((lo + hi) / 2);
      }
      x0 = x1;
      f0 = f1;
    }
  };
  // x = 0 is always a trivial root; grids mix log spacing (resolving roots near 0) and linear spacing.
  const grid = (a: number, b: number): number[] => {
    const steps = 120;
    const pts: number[] = [];
    for (let k = 0; k <= steps; k++) {
      pts.push(a + ((b - a) * k) / steps);
      pts.push(Math.exp(Math.log(a) + ((Math.log(b) - Math.log(a)) * k) / steps));
    }
    return pts.filter((x) => x >= a && x <= b).sort((p, q) => p - q);
  };
  const tiny = 1e-9 / ymax;
  if (-lower > tiny) scan(grid(tiny, -lower).map((x) => -x).reverse());
  if (upper > tiny) scan(grid(tiny, upper));
  for (const x of roots) {
    const gamma = uv(x).v - 1;
    const sigma = gamma / x;
    if (sigma > 0 && Number.isFinite(gamma)) candidates.push({ gamma, sigma });
  }
  let best = candidates[0];
  let bestLl = gpdLogLik(y, best.gamma, best.sigma);
  for (const c of candidates.slice(1)) {
    const ll = gpdLogLik(y, c.gamma, c.sigma);
    if (ll > bestLl) { best = c; bestLl = ll; }
  }
  return best;
}
