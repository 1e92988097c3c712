// From per-step scores to events: EWMA smoothing, the nonparametric dynamic threshold of Hundman
// et al. (KDD 2018, "Detecting Spacecraft Anomalies Using LSTMs and Nonparametric Dynamic
// Thresholding") with its pruning step, and grouping of flagged steps into intervals.
import { DataError } from '../errors';
import { checkOptionNames, optInt, optNumber } from '../options';

/** An anomalous interval of a series. */
export interface SeriesEvent {
  /** First flagged step (row index). */
  start: number;
  /** Last flagged step (row index, inclusive). */
  end: number;
  /** Step of the highest score inside the interval. */
  peak: number;
  /** The highest score. */
  score: number;
  /** (peak score - threshold) / (mean + std of the scores): Hundman et al.'s anomaly score, >= 0. */
  severity: number;
  /** Timestamps of start, end and peak when the series had timestamps. */
  startTime?: number;
  endTime?: number;
  peakTime?: number;
}

/** s[t] = smoothing * s[t-1] + (1 - smoothing) * x[t] from step `from` on (earlier steps copied). smoothing in [0, 1). */
export function ewma(scores: ArrayLike<number>, smoothing: number, from = 0): Float32Array {
  if (!(smoothing >= 0 && smoothing < 1)) throw new DataError(`smoothing must be in [0, 1) but is ${smoothing}`);
  const out = Float32Array.from(scores);
  if (smoothing === 0) return out;
  let s = NaN;
  for (let t = Math.max(0, from); t < out.length; t++) {
    s = Number.isNaN(s) ? out[t] : smoothing * s + (1 - smoothing) * out[t];
    out[t] = s;
  }
  return out;
}

export interface DynamicThresholdOptions {
  /** Smallest z tried in threshold = mean + z * std. Default 2. */
  zMin?: number;
  /** Largest z tried. Default 10. */
  zMax?: number;
  /** Step between tried z values. Default 0.5. */
  zStep?: number;
  /** Scores before this index are ignored (warm-up). Default 0. */
  from?: number;
  /**
   * Passes: each further pass repeats the search on the scores below the previous threshold (so one
   * huge event does not hide smaller ones) and keeps the lower threshold when it flags anything.
   * Default 1 (the paper's single pass).
   */
  rounds?: number;
}

export interface DynamicThreshold {
  threshold: number;
  z: number;
  mean: number;
  std: number;
}

function meanStd(x: ArrayLike<number>, from: number, below = Infinity): { mean: number; std: number; n: number } {
  let s = 0;
  let n = 0;
  for (let i = from; i < x.length; i++) if (x[i] < below) { s += x[i]; n++; }
  const mean = n ? s / n : 0;
  let q = 0;
  for (let i = from; i < x.length; i++) if (x[i] < below) q += (x[i] - mean) ** 2;
  return { mean, std: n ? Math.sqrt(q / n) : 0, n };
}

/**
 * Hundman et al.'s threshold: among eps = mean + z std, the one maximizing
 * (delta mean / mean + delta std / std) / (#above + #sequences^2), where the deltas are the drop in
 * mean and std when the scores above eps are removed. With no z that flags anything, the largest z.
 */
export function dynamicThreshold(scores: ArrayLike<number>, opts: DynamicThresholdOptions = {}): DynamicThreshold {
  checkOptionNames('dynamicThreshold', opts, ['zMin', 'zMax', 'zStep', 'from', 'rounds']);
  const zMin = optNumber('dynamicThreshold', 'zMin', opts.zMin, 2, 0);
  const zMax = optNumber('dynamicThreshold', 'zMax', opts.zMax, 10, zMin);
  const zStep = optNumber('dynamicThreshold', 'zStep', opts.zStep, 0.5, 0, Infinity, true);
  const from = optInt('dynamicThreshold', 'from', opts.from, 0, 0);
  const rounds = optInt('dynamicThreshold', 'rounds', opts.rounds, 1, 1, 100);
  let best = onePass(scores, from, zMin, zMax, zStep, Infinity);
  for (let r = 1; r < rounds; r++) {
    const next = onePass(scores, from, zMin, zMax, zStep, best.threshold);
    if (!(next.threshold < best.threshold) || !next.flags) break;
    best = next;
  }
  return { threshold: best.threshold, z: best.z, mean: best.mean, std: best.std };
}

/** One search over z on the scores below `below`. */
function onePass(all: ArrayLike<number>, from: number, zMin: number, zMax: number, zStep: number, below: number): DynamicThreshold & { flags: boolean } {
  const scores = below === Infinity ? all : Array.prototype.filter.call(all, (x: number, i: number) => i >= from && x < below) as number[];
  if (below !== Infinity) from = 0;
  const { mean, std } = meanStd(scores, from);
  let best = { threshold: mean + zMax * std, z: zMax, mean, std, flags: false };
  let bestObj = -Infinity;
  if (!(std > 0)) return best;
  for (let z = zMin; z <= zMax + 1e-9; z += zStep) {
    const eps = mean + z * std;
    let above = 0;
    let seqs = 0;
    let prev = false;
    for (let i = from; i < scores.length; i++) {
      const a = scores[i] >= eps;
      if (a) { above++; if (!prev) seqs++; }
      prev = a;
    }
    if (above === 0) continue;
    const rest = meanStd(scores, from, eps);
    const obj = ((mean - rest.mean) / mean + (std - rest.std) / std) / (above + seqs * seqs);
    if (obj > bestObj) {
      bestObj = obj;
      best = { threshold: eps, z, mean, std, flags: true };
    }
  }
  return best;
}

export interface FindEventsOptions {
  /** Flagged runs separated by at most this many unflagged steps merge into one event. Default 0. */
  minGap?: number;
  /** Hundman et al.'s pruning: events whose peak is within this relative drop of the next lower peak are dropped (0 = keep all). Default 0. */
  pruning?: number;
  /** Steps before this index are never flagged (warm-up). Default 0. */
  from?: number;
  /** Scale of severity: mean + std of the scores (default: computed from the scores from `from` on). */
  scale?: number;
}

/** Groups the steps with score > threshold into events. */
export function findEvents(scores: ArrayLike<number>, threshold: number, opts: FindEventsOptions = {}): SeriesEvent[] {
  checkOptionNames('findEvents', opts, ['minGap', 'pruning', 'from', 'scale']);
  const minGap = optInt('findEvents', 'minGap', opts.minGap, 0, 0);
  const pruning = optNumber('findEvents', 'pruning', opts.pruning, 0, 0, 1);
  const from = optInt('findEvents', 'from', opts.from, 0, 0);
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) throw new DataError(`threshold must be a number but is ${threshold}`);
  const ms = meanStd(scores, from);
  const scale = opts.scale ?? (ms.mean + ms.std > 0 ? ms.mean + ms.std : 1);
  let events: SeriesEvent[] = [];
  let cur: SeriesEvent | undefined;
  for (let t = from; t < scores.length; t++) {
    const s = scores[t];
    if (!(s > threshold)) continue;
    if (cur && t - cur.end - 1 <= minGap) {
      cur.end = t;
      if (s > cur.score) { cur.score = s; cur.peak = t; }
    } else {
      cur = { start: t, end: t, peak: t, score: s, severity: 0 };
      events.push(cur);
    }
  }
  for (const e of events) e.severity = Math.max(0, (e.score - threshold) / scale);
  if (pruning > 0 && events.length > 0) {
    // Peaks in descending order plus the largest unflagged score; keep down to the last drop >= pruning.
    let restMax = -Infinity;
    const inEvent = new Uint8Array(scores.length);
    for (const e of events) inEvent.fill(1, e.start, e.end + 1);
    for (let t = from; t < scores.length; t++) if (!inEvent[t] && scores[t] > restMax) restMax = scores[t];
    const order = events.map((e, i) => i).sort((a, b) => events[b].score - events[a].score);
    const peaks = order.map((i) => events[i].score);
    peaks.push(Number.isFinite(restMax) ? restMax : 0);
    let keep = 0;
    for (let i = 0; i < order.length; i++) if (peaks[i] > 0 && (peaks[i] - peaks[i + 1]) / peaks[i] >= pruning) keep = i + 1;
    const kept = new Set(order.slice(0, keep));
    events = events.filter((_, i) => kept.has(i));
  }
  return events;
}
