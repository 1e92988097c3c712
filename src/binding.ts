// Loads the native addon and gives every native call one typed signature.
import * as path from 'path';

export type F32 = Float32Array;
/** Opaque native object: a fitted forest compiled for batch scoring (derived state, never saved). */
export type ForestPlanHandle = { readonly __forestPlan: unique symbol };

/** Native functions. Sync functions return results; `*Async` functions return Promises and run off the main thread. */
export interface Native {
  simdInfo(): { detected: string; active: string };
  setSimd(level: string): string;
  sumF32(x: F32): number;
  firstNonFinite(x: F32): number;
  /** x ascending as doubles, NaNs last (radix sort). */
  sortScores(x: F32): Float64Array;
  reconError(x: F32, r: F32, rows: number, cols: number, kind: number, out: F32, contrib: F32 | null): void;
  calibrate(scores: F32, quantiles: F32, mean: number, std: number, kind: number, tieBreak: number, out: F32): void;
  /** One cascade stage's pass (src/hybrid/cascade.ts): scale, decide into out/stage, gather the rows sent on (band null: the last stage decides all). */
  cascadeRoute(
    scores: F32, quantiles: F32, mean: number, std: number, tieBreak: number, band: Float64Array | null,
    rows: Int32Array | null, lo: Float64Array | null, span: Float64Array | null, x: F32 | null, cols: number, out: F32, stage: Uint8Array, index: number,
  ): { forwarded: number; normal: number; rows?: Int32Array; lo?: Float64Array; span?: Float64Array; data?: F32 };
  ecodFit(X: F32, rows: number, cols: number, threads: number): Promise<{ sorted: F32; skewness: Float64Array }>;
  ecodTailTable(n: number): Float64Array;
  ecodScore(X: F32, rows: number, cols: number, sorted: F32, table: Float64Array, skewness: Float64Array, aggregate: number, out: F32, contrib: F32 | null): void;
  ecodScoreAsync(X: F32, rows: number, cols: number, sorted: F32, table: Float64Array, skewness: Float64Array, aggregate: number, out: F32, contrib: F32 | null, threads: number): Promise<void>;
  ecodScoreReference(X: F32, rows: number, cols: number, sorted: F32, table: Float64Array, skewness: Float64Array, aggregate: number, out: F32, contrib: F32 | null): void;
  forestFit(
    x: F32, rows: number, cols: number, trees: number, sampleSize: number, depth: number, extensionLevel: number, seed: number, threads: number,
  ): Promise<{ feature?: Int32Array; threshold?: F32; normal?: F32; offset?: F32; leaf: F32; count: Int32Array; scores: F32; plan?: ForestPlanHandle }>;
  forestScore(x: F32, rows: number, cols: number, trees: number, depth: number, sampleSize: number, feature: Int32Array | null, threshold: F32 | null, normal: F32 | null, offset: F32 | null, leaf: F32, out: F32, threads: number, plan?: ForestPlanHandle | null): void;
  forestScoreAsync(x: F32, rows: number, cols: number, trees: number, depth: number, sampleSize: number, feature: Int32Array | null, threshold: F32 | null, normal: F32 | null, offset: F32 | null, leaf: F32, out: F32, threads: number, plan?: ForestPlanHandle | null): Promise<F32>;
  /** Compiles a fitted axis-parallel forest for batch scoring on this CPU; null when no plan applies. */
  forestPlan(cols: number, trees: number, depth: number, sampleSize: number, feature: Int32Array | null, threshold: F32 | null, normal: F32 | null, offset: F32 | null, leaf: F32): ForestPlanHandle | null;
  forestExplainAsync(x: F32, rows: number, cols: number, trees: number, depth: number, sampleSize: number, feature: Int32Array | null, threshold: F32 | null, normal: F32 | null, offset: F32 | null, leaf: F32, count: Int32Array, out: F32, threads: number): Promise<F32>;
  forestCheck(cols: number, trees: number, depth: number, sampleSize: number, feature: Int32Array | null, threshold: F32 | null, normal: F32 | null, offset: F32 | null, leaf: F32, count: Int32Array): string | null;
  /** Trains a dense autoencoder / VAE (plan layout: native/include/nadir/nn.h) off the main thread. */
  nnTrain(
    plan: Int32Array,
    X: F32,
    rows: number,
    options: Record<string, number>,
    onEpoch: ((e: { epoch: number; loss: number; valLoss: number; seconds: number }) => void) | null,
    abortFlag: Int32Array | null,
  ): Promise<{ params: F32; loss: F32; valLoss: F32; bestEpoch: number; stoppedEarly: boolean }>;
  /** Scores rows with a packed network (mode 0 decoded mean, 1 Monte-Carlo). */
  nnScore(plan: Int32Array, packed: F32, X: F32, rows: number, mode: number, samples: number, seed: number, scores: F32, contrib: F32 | null, recon: F32 | null, threads: number): void;
  nnScoreAsync(plan: Int32Array, packed: F32, X: F32, rows: number, mode: number, samples: number, seed: number, scores: F32, contrib: F32 | null, recon: F32 | null, threads: number): Promise<void>;
  /** Test hook: training loss and gradient for a parameter blob (Float32Array or Float64Array). */
  nnLossGrad<T extends F32 | Float64Array>(plan: Int32Array, params: T, Z: T, rows: number, train: boolean, dropout: number, seed: number): { loss: number; grad: T };
  /** Test hook: the blocked GEMM at the active SIMD level. */
  nnGemm(M: number, N: number, K: number, A: F32, ars: number, acs: number, B: F32, ldb: number, C: F32, ldc: number, accumulate: boolean, bias: F32 | null): void;
  /** Trains a BiGAN (plan layout: native/include/nadir/gan.h) off the main thread; epochs holds 8 numbers per epoch. */
  ganTrain(plan: Int32Array, X: F32, rows: number, options: Record<string, number>, onEpoch: ((e: Float64Array) => void) | null, abortFlag: Int32Array | null): Promise<{ params: F32; epochs: Float64Array }>;
  ganScore(plan: Int32Array, packed: F32, X: F32, rows: number, kind: number, weights: F32, scores: F32, contrib: F32 | null, components: F32 | null, threads: number): void;
  ganScoreAsync(plan: Int32Array, packed: F32, X: F32, rows: number, kind: number, weights: F32, scores: F32, contrib: F32 | null, components: F32 | null, threads: number): Promise<void>;
  /** Test hook: loss and gradient of one player's objective (0 = D, 1 = E and G) in double. */
  ganLossGrad(plan: Int32Array, params: Float64Array, Z: Float64Array, zp: Float64Array, rows: number, player: number, realLabel: number, cycleWeight: number): { loss: number; grad: Float64Array };
  /** Test hook: dL/dW through spectral normalization W / (u^T W v) with u, v constant. */
  ganSpectralBackward(W: Float64Array, out: number, inputs: number, u: Float64Array, v: Float64Array, sigma: number, gSn: Float64Array): Float64Array;
  gaussianFitAsync(
    x: F32, rows: number, cols: number, robust: boolean, shrinkage: number, support: number, trials: number, seed: number, threads: number,
  ): Promise<{
    location: F32; covariance: Float64Array; whitening: F32; regularization: number; shrinkage: number; support: number; rawSupport: number; correction: number;
  }>;
  /** mode 0: sum of squared projections, 1: PyOD distance (weight, scale required), 2: store projections (out rows*k). */
  /** With `transposed` (w as d x k), up to 4 rows take the latency path (bit-identical results). */
  projectRows(x: F32, rows: number, d: number, center: F32, w: F32, k: number, lower: boolean, mode: number, weight: F32 | null, scale: F32 | null, out: F32, transposed?: F32 | null): void;
  projectRowsScalar(x: F32, rows: number, d: number, center: F32, w: F32, k: number, lower: boolean, mode: number, weight: F32 | null, scale: F32 | null, out: F32): void;
  projectRowsAsync(
    x: F32, rows: number, d: number, center: F32, w: F32, k: number, lower: boolean, mode: number, weight: F32 | null, scale: F32 | null, out: F32, threads: number,
  ): Promise<void>;
  quadraticContributionsAsync(x: F32, rows: number, d: number, center: F32, w: F32, k: number, out: F32): Promise<void>;
  distanceContributionsAsync(x: F32, rows: number, d: number, center: F32, scale: F32, v: F32, k: number, weight: F32, out: F32): Promise<void>;
  pcaReconstructionError(x: F32, rows: number, d: number, center: F32, scale: F32, v: F32, k: number, out: F32, contrib: F32 | null, threads?: number, transposed?: F32 | null): void;
  pcaReconstructionErrorAsync(x: F32, rows: number, d: number, center: F32, scale: F32, v: F32, k: number, out: F32, contrib: F32 | null, threads: number): Promise<void>;
  pcaFitAsync(x: F32, rows: number, cols: number, standardize: boolean, threads: number): Promise<{ mean: Float64Array; scale: Float64Array; values: Float64Array; vectors: Float64Array }>;
  symmetricEigen(a: Float64Array, d: number): { values: Float64Array; vectors: Float64Array };
  chi2Quantile(p: number, dof: number): number;
  /** Sequence forecasters (native/include/nadir/seq.h). options: [epochs, batchSize, window, learningRate, clipNorm, maxSamples, seed, threads]. */
  seqLstmTrain(meta: Int32Array, Z: F32, length: number, options: Float64Array, abortFlag: Int32Array | null): Promise<{ params: F32; loss: F32 }>;
  seqLstmPack(meta: Int32Array, params: F32): F32;
  seqLstmRun(meta: Int32Array, packed: F32, Z: F32, length: number, state: F32, preds: F32): void;
  seqLstmRunAsync(meta: Int32Array, packed: F32, Z: F32, length: number, state: F32, preds: F32): Promise<void>;
  seqLstmLossGrad<T extends F32 | Float64Array>(meta: Int32Array, params: T, Z: T, length: number, window: number, starts: Uint32Array): { loss: number; grad: T };
  seqTfTrain(meta: Int32Array, Z: F32, length: number, options: Float64Array, abortFlag: Int32Array | null): Promise<{ params: F32; loss: F32 }>;
  seqTfPack(meta: Int32Array, params: F32): F32;
  seqTfPredict(meta: Int32Array, packed: F32, Z: F32, length: number, first: number, preds: F32, threads: number): void;
  seqTfPredictAsync(meta: Int32Array, packed: F32, Z: F32, length: number, first: number, preds: F32, threads: number): Promise<void>;
  seqTfLossGrad<T extends F32 | Float64Array>(meta: Int32Array, params: T, Z: T, length: number, starts: Uint32Array): { loss: number; grad: T };
  [name: string]: any;
}

function load(): Native {
  const candidates = process.env.NADIR_ADDON
    ? [path.resolve(process.env.NADIR_ADDON)]
    : [path.join(__dirname, '..', 'build', 'Release', 'nadir.node'), path.join(__dirname, '..', 'build', 'Debug', 'nadir.node')];
  let lastError: unknown;
  for (const file of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      return require(file) as Native;
    } catch (e) {
      lastError = e;
      if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') break;
    }
  }
  throw new Error(
    `nadir: could not load the native addon (${candidates.join(', ')}). Run 'npm install' (or 'npm run build') to compile it. Cause: ${
      (lastError as Error)?.message ?? lastError
    }`,
  );
}

export const native: Native = load();
