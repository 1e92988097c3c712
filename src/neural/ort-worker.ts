// Worker thread holding one ONNX Runtime session: onnxruntime-node's run() blocks the thread it
// runs on, so large batches run here and the main event loop stays free.
import { parentPort, workerData } from 'worker_threads';
import { Assembler, chunkInput, planChunks } from './chunks';
import { openSyncSession } from './ort-sync';

export interface WorkerInit {
  model: Uint8Array;
  sessionOptions: Record<string, unknown>;
}

export interface WorkerTask {
  id: number;
  input: string;
  outputs: string[];
  data: Float32Array;
  rows: number;
  cols: number;
  batchSize: number;
  fixedRows: number;
}

// The task's input buffer goes back with the reply (transferred, not copied), so the main thread can
// fill it again for a later chunk instead of allocating fresh memory for every chunk.
export type WorkerReply =
  | { id: number; ok: true; arrays: Float32Array[]; input: Float32Array }
  | { id: number; ok: false; error: string };

async function main(): Promise<void> {
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const init = workerData as WorkerInit;
  // This thread exists to block on ONNX Runtime: the synchronous session saves the public API's
  // setImmediate hop and Promise per chunk. The public API is the fallback.
  type Outputs = Record<string, { data: unknown } | undefined>;
  let runChunk: (feeds: Record<string, unknown>, outputs: string[]) => Outputs | Promise<Outputs>;
  try {
    const sync = openSyncSession(init.model, init.sessionOptions);
    if (sync) {
      runChunk = (feeds, outputs) => sync.run(feeds, Object.fromEntries(outputs.map((o) => [o, null])), {});
    } else {
      const session = await ort.InferenceSession.create(init.model, init.sessionOptions);
      runChunk = (feeds, outputs) => session.run(feeds as never, outputs) as Promise<Outputs>;
    }
  } catch (e) {
    parentPort!.postMessage({ ready: false, error: (e as Error).message });
    return;
  }
  parentPort!.postMessage({ ready: true });
  parentPort!.on('message', async (t: WorkerTask) => {
    try {
      // t.data may be longer than the task (a reused buffer): the task's rows come first.
      const data = t.data.length === t.rows * t.cols ? t.data : t.data.subarray(0, t.rows * t.cols);
      const chunks = planChunks(t.rows, t.batchSize, t.fixedRows);
      const asm = new Assembler(t.rows, t.outputs, chunks.length);
      for (const c of chunks) {
        const feeds = { [t.input]: new ort.Tensor('float32', chunkInput(data, t.cols, c), [c.fed, t.cols]) };
        const res = await runChunk(feeds, t.outputs);
        asm.put(c, t.outputs.map((o) => res[o]?.data) as ArrayLike<unknown>[]);
      }
      const { arrays } = asm.results();
      const transfer = [...new Set([...arrays.map((a) => a.buffer as ArrayBuffer), t.data.buffer as ArrayBuffer])];
      parentPort!.postMessage({ id: t.id, ok: true, arrays, input: t.data } as WorkerReply, transfer);
    } catch (e) {
      parentPort!.postMessage({ id: t.id, ok: false, error: (e as Error).message } as WorkerReply);
    }
  });
}

void main();
