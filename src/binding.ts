// Loads the native addon and gives every native call one typed signature.
import * as path from 'path';

export type F32 = Float32Array;

/** Native functions. Sync functions return results; `*Async` functions return Promises and run off the main thread. */
export interface Native {
  simdInfo(): { detected: string; active: string };
  setSimd(level: string): string;
  sumF32(x: F32): number;
  firstNonFinite(x: F32): number;
  reconError(x: F32, r: F32, rows: number, cols: number, kind: number, out: F32, contrib: F32 | null): void;
  forestFit(
    x: F32, rows: number, cols: number, trees: number, sampleSize: number, depth: number, extensionLevel: number, seed: number, threads: number,
  ): Promise<{ feature?: Int32Array; threshold?: F32; normal?: F32; offset?: F32; leaf: F32; count: Int32Array; scores: F32 }>;
  forestScore(x: F32, rows: number, cols: number, trees: number, depth: number, sampleSize: number, feature: Int32Array | null, threshold: F32 | null, normal: F32 | null, offset: F32 | null, leaf: F32, out: F32, threads: number): void;
  forestScoreAsync(x: F32, rows: number, cols: number, trees: number, depth: number, sampleSize: number, feature: Int32Array | null, threshold: F32 | null, normal: F32 | null, offset: F32 | null, leaf: F32, out: F32, threads: number): Promise<F32>;
  forestExplainAsync(x: F32, rows: number, cols: number, trees: number, depth: number, sampleSize: number, feature: Int32Array | null, threshold: F32 | null, normal: F32 | null, offset: F32 | null, leaf: F32, count: Int32Array, out: F32, threads: number): Promise<F32>;
  forestCheck(cols: number, trees: number, depth: number, sampleSize: number, feature: Int32Array | null, threshold: F32 | null, normal: F32 | null, offset: F32 | null, leaf: F32, count: Int32Array): string | null;
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
