// Combining calibrated member scores (ensembles) and helpers shared by ensembles and cascades.
import { OptionError } from '../errors';

export type CombineMethod = 'average' | 'max' | 'median' | 'aom' | 'moa';
export const COMBINE_METHODS: readonly CombineMethod[] = ['average', 'max', 'median', 'aom', 'moa'];

export interface CombinePlan {
  method: CombineMethod | 'weighted';
  /** Normalized weights (sum 1), for 'weighted'. */
  weights?: number[];
  /** Member indices per bucket, for 'aom' and 'moa'. */
  groups?: number[][];
}

/**
 * Combines per-member scores row by row. `scores[j][i]` is member j's score of row i.
 * - average / weighted: (weighted) mean; max; median (mean of the two middle values for an even count);
 * - aom (average of maximum, Aggarwal & Sathe 2015, as PyOD): the mean over buckets of each bucket's max;
 * - moa (maximum of average): the max over buckets of each bucket's mean.
 */
export function combineScores(scores: ArrayLike<number>[], plan: CombinePlan, out?: Float32Array): Float32Array {
  const k = scores.length;
  if (k === 0) throw new OptionError('combineScores needs at least one member score array');
  const n = scores[0].length;
  for (let j = 1; j < k; j++) if (scores[j].length !== n) throw new RangeError(`member ${j} has ${scores[j].length} scores but member 0 has ${n}`);
  const res = out ?? new Float32Array(n);
  switch (plan.method) {
    case 'average':
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < k; j++) s += scores[j][i];
        res[i] = s / k;
      }
      break;
    case 'weighted': {
      const w = plan.weights!;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < k; j++) s += w[j] * scores[j][i];
        res[i] = s;
      }
      break;
    }
    case 'max':
      for (let i = 0; i < n; i++) {
        let m = -Infinity;
        for (let j = 0; j < k; j++) m = Math.max(m, scores[j][i]);
        res[i] = m;
      }
      break;
    case 'median': {
      const buf = new Float64Array(k);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < k; j++) buf[j] = scores[j][i];
        buf.sort();
        res[i] = k % 2 ? buf[(k - 1) >> 1] : (buf[k / 2 - 1] + buf[k / 2]) / 2;
      }
      break;
    }
    case 'aom':
    case 'moa': {
      const groups = plan.groups!;
      const aom = plan.method === 'aom';
      for (let i = 0; i < n; i++) {
        let acc = aom ? 0 : -Infinity;
        for (const g of groups) {
          let v = aom ? -Infinity : 0;
          for (const j of g) v = aom ? Math.max(v, scores[j][i]) : v + scores[j][i];
          if (aom) acc += v;
          else acc = Math.max(acc, v / g.length);
        }
        res[i] = aom ? acc / groups.length : acc;
      }
      break;
    }
    default:
      throw new OptionError(`unknown combine method ${JSON.stringify(plan.method)}`);
  }
  return res;
}

/**
 * For each row, how much each member's score counts in the combined score (weights summing to 1):
 * the linear weights for average/weighted, the arg-max member for max, the middle member(s) for median,
 * and the members chosen inside buckets for aom/moa. `weights[j][i]` is member j's weight on row i.
 */
export function combineWeights(scores: ArrayLike<number>[], plan: CombinePlan): Float32Array[] {
  const k = scores.length;
  const n = scores[0].length;
  const w = Array.from({ length: k }, () => new Float32Array(n));
  const argmax = (i: number, members: number[]) => {
    let best = members[0];
    for (const j of members) if (scores[j][i] > scores[best][i]) best = j;
    return best;
  };
  for (let i = 0; i < n; i++) {
    switch (plan.method) {
      case 'average':
        for (let j = 0; j < k; j++) w[j][i] = 1 / k;
        break;
      case 'weighted':
        for (let j = 0; j < k; j++) w[j][i] = plan.weights![j];
        break;
      case 'max':
        w[argmax(i, [...Array(k).keys()])][i] = 1;
        break;
      case 'median': {
        const order = [...Array(k).keys()].sort((a, b) => scores[a][i] - scores[b][i] || a - b);
        if (k % 2) w[order[(k - 1) >> 1]][i] = 1;
        else { w[order[k / 2 - 1]][i] += 0.5; w[order[k / 2]][i] += 0.5; }
        break;
      }
      case 'aom':
        for (const g of plan.groups!) w[argmax(i, g)][i] += 1 / plan.groups!.length;
        break;
      case 'moa': {
        let best = plan.groups![0];
        let bestV = -Infinity;
        for (const g of plan.groups!) {
          let v = 0;
          for (const j of g) v += scores[j][i];
          v /= g.length;
          if (v > bestV) { bestV = v; best = g; }
        }
        for (const j of best) w[j][i] += 1 / best.length;
        break;
      }
    }
  }
  return w;
}

/**
 * Random buckets for aom/moa (PyOD's static split): a seeded shuffle of the member indices cut into
 * `buckets` groups of near-equal size.
 */
export function bucketGroups(members: number, buckets: number, seed: number): number[][] {
  const idx = [...Array(members).keys()];
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = members - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const groups: number[][] = [];
  for (let b = 0; b < buckets; b++) groups.push(idx.slice(Math.floor((b * members) / buckets), Math.floor(((b + 1) * members) / buckets)).sort((x, y) => x - y));
  return groups;
}

/**
 * Rescales each row of a rows x cols explanation so that it sums to target[i] (contributions then
 * read in the units of the combined score). Rows whose contributions sum to <= ~0 are scaled by their
 * absolute sum instead; all-zero rows share the target equally.
 */
export function scaleRows(expl: Float32Array, rows: number, cols: number, target: ArrayLike<number>): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    let a = 0;
    for (let j = 0; j < cols; j++) {
      s += expl[i * cols + j];
      a += Math.abs(expl[i * cols + j]);
    }
    const t = target[i];
    if (a === 0) {
      for (let j = 0; j < cols; j++) out[i * cols + j] = t / cols;
      continue;
    }
    // A net-negative sum would flip signs; scale by the absolute sum then.
    const f = s > 1e-6 * a ? t / s : t / a;
    for (let j = 0; j < cols; j++) out[i * cols + j] = expl[i * cols + j] * f;
  }
  return out;
}
