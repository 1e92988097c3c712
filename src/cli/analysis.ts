// Numbers the CLI reports: curves and histograms for labelled scores, threshold confusion counts,
// and latency / throughput measurements of a fitted detector.
import { Detector } from '../detectors/base';
import { Matrix } from '../data/matrix';
import { averagePrecision, rocAuc } from '../metrics';

export interface Histogram {
  lo: number;
  hi: number;
  normal: number[];
  anomaly: number[];
}

export interface Curves {
  /** [false-positive rate, true-positive rate] from the strictest threshold to the loosest. */
  roc: [number, number][];
  /** [recall, precision] in the same order. */
  pr: [number, number][];
  hist: Histogram;
}

export interface ThresholdStats {
  threshold: number;
  flagged: number;
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface Quality {
  rocAuc: number;
  ap: number;
  anomalies: number;
  atThreshold: ThresholdStats;
  curves: Curves;
}

const isPos = (v: number) => v > 0;

export function thresholdStats(scores: ArrayLike<number>, labels: ArrayLike<number>, t: number): ThresholdStats {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < scores.length; i++) {
    const flagged = scores[i] > t;
    const pos = isPos(labels[i]);
    if (flagged && pos) tp++;
    else if (flagged) fp++;
    else if (pos) fn++;
  }
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { threshold: t, flagged: tp + fp, tp, fp, fn, precision, recall, f1 };
}

/** ROC and precision-recall curves (at most ~maxPoints points each) and a score histogram by label. */
export function curves(scores: ArrayLike<number>, labels: ArrayLike<number>, maxPoints = 200, bins = 40): Curves {
  const n = scores.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let pos = 0;
  for (let i = 0; i < n; i++) if (isPos(labels[i])) pos++;
  const neg = n - pos;
  const roc: [number, number][] = [[0, 0]];
  const pr: [number, number][] = [];
  const step = Math.max(1, Math.floor(n / maxPoints));
  let tp = 0;
  let fp = 0;
  let lastEmit = 0;
  for (let i = 0; i < n; i++) {
    if (isPos(labels[idx[i]])) tp++;
    else fp++;
    const endOfTie = i === n - 1 || scores[idx[i + 1]] !== scores[idx[i]];
    if (endOfTie && (i - lastEmit >= step || i === n - 1 || pr.length === 0)) {
      lastEmit = i;
      roc.push([neg ? fp / neg : 0, pos ? tp / pos : 0]);
      pr.push([pos ? tp / pos : 0, tp / (tp + fp)]);
    }
  }
  // Histogram range: clip the extreme 0.1% so one huge score does not squash every bar into one bin.
  const sorted = Float64Array.from(scores).sort();
  const lo = sorted[0];
  let hi = sorted[Math.min(n - 1, Math.floor(0.999 * (n - 1)))];
  if (!(hi > lo)) hi = sorted[n - 1] > lo ? sorted[n - 1] : lo + 1;
  const normal = new Array(bins).fill(0);
  const anomaly = new Array(bins).fill(0);
  for (let i = 0; i < n; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(((scores[i] - lo) / (hi - lo)) * bins)));
    if (isPos(labels[i])) anomaly[b]++;
    else normal[b]++;
  }
  return { roc, pr, hist: { lo, hi, normal, anomaly } };
}

export function quality(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): Quality {
  let anomalies = 0;
  for (let i = 0; i < labels.length; i++) if (isPos(labels[i])) anomalies++;
  const bin = Float64Array.from(labels, (v) => (isPos(v) ? 1 : 0));
  return {
    rocAuc: rocAuc(scores, bin),
    ap: averagePrecision(scores, bin),
    anomalies,
    atThreshold: thresholdStats(scores, labels, threshold),
    curves: curves(scores, labels),
  };
}

export interface Speed {
  /** Batch scoring (detector.score on all rows), best of several runs. */
  rowsPerSec: number;
  /** Single-row scoreSync latency. */
  p50Us: number;
  p99Us: number;
}

const now = () => process.hrtime.bigint();

export async function measureSpeed(det: Detector, X: Matrix, opts: { minSeconds?: number; latencyCalls?: number } = {}): Promise<Speed> {
  const minNs = (opts.minSeconds ?? 0.4) * 1e9;
  let best = Infinity;
  let total = 0;
  for (let rep = 0; rep < 30 && (rep < 2 || total < minNs); rep++) {
    const t0 = now();
    await det.score(X);
    const dt = Number(now() - t0);
    total += dt;
    best = Math.min(best, dt);
  }
  const rows = Array.from({ length: Math.min(X.rows, 512) }, (_, i) => X.row(i));
  const calls = opts.latencyCalls ?? 2000;
  for (let k = 0; k < Math.min(200, calls); k++) det.scoreSync(rows[k % rows.length]);
  const lat = new Float64Array(calls);
  for (let k = 0; k < calls; k++) {
    const r = rows[k % rows.length];
    const t0 = now();
    det.scoreSync(r);
    lat[k] = Number(now() - t0) / 1e3;
  }
  lat.sort();
  const q = (p: number) => lat[Math.min(calls - 1, Math.floor(p * calls))];
  return { rowsPerSec: X.rows / (best / 1e9), p50Us: q(0.5), p99Us: q(0.99) };
}

// ---------------------------------------------------------------- formatting

export function fmtRate(r: number): string {
  if (!Number.isFinite(r)) return '-';
  if (r >= 1e6) return `${(r / 1e6).toFixed(2)} M`;
  if (r >= 1e3) return `${(r / 1e3).toFixed(1)} k`;
  return r.toFixed(0);
}

export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '-';
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  return `${us < 10 ? us.toFixed(1) : us.toFixed(0)} µs`;
}

export function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '-';
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  return `${s.toFixed(2)} s`;
}

/** Left-aligned first column, right-aligned others. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, j) => Math.max(h.length, ...rows.map((r) => [...r[j]].length)));
  const line = (r: string[]) => r.map((c, j) => (j === 0 ? c.padEnd(w[j]) : c.padStart(w[j]))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

/** Shortest decimal that reads back as the same float32. */
export function f32(v: number): string {
  for (let p = 6; p < 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return String(Number(s));
  }
  return String(Number(v.toPrecision(9)));
}
