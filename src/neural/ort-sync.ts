// onnxruntime-node's internal synchronous session: its public InferenceSession.run() only wraps
// this call in a Promise settled from setImmediate. Used by the latency path (scoreSync) and by
// worker threads, which may block their own thread. Kept free of heavy imports (workers load it).

export interface SyncSession {
  loadModel(b: ArrayBuffer, off: number, len: number, o: object): void;
  run(feeds: object, fetches: object, o: object): Record<string, { data: unknown }>;
}

interface SyncBinding {
  binding: { InferenceSession: new () => SyncSession };
  initOrt(): void;
}

let cache: SyncBinding | null | undefined;

/** The binding, or null when this onnxruntime-node version lays it out differently. */
export function syncBinding(): SyncBinding | null {
  if (cache === undefined) {
    cache = null;
    try {
      const b = require('onnxruntime-node/dist/binding') as SyncBinding;
      if (typeof b?.binding?.InferenceSession === 'function' && typeof b.initOrt === 'function') cache = b;
    } catch {
      /* layout changed: no synchronous path */
    }
  }
  return cache;
}

/**
 * A synchronous session of the model, or null when there is no synchronous entry point. Call after
 * require('onnxruntime-node') (which sets up the environment the binding needs). Throws what
 * ONNX Runtime throws when the model does not load.
 */
export function openSyncSession(model: Uint8Array, sessionOptions: Record<string, unknown>): SyncSession | null {
  const b = syncBinding();
  if (!b) return null;
  b.initOrt();
  const s = new b.binding.InferenceSession();
  s.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, sessionOptions);
  return s;
}
