// ONNX Runtime sessions for nadir: execution-provider choice (CPU / CUDA), chunked batch runs,
// worker threads for large batches (onnxruntime-node's run() blocks the thread that calls it), and
// a synchronous path for single rows.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { DataError, ModelFileError, NadirError, OptionError } from '../errors';
import { checkOptionNames, optEnum, optInt } from '../options';
import { Assembler, OutputError, chunkInput, planChunks } from './chunks';
import type { WorkerInit, WorkerReply, WorkerTask } from './ort-worker';
import { openSyncSession, syncBinding, SyncSession } from './ort-sync';

export type ExecutionProvider = 'auto' | 'cpu' | 'cuda';

/** Thrown when CUDA is requested but onnxruntime-node cannot use it. */
export class ExecutionProviderError extends NadirError {}

/** How to get onnxruntime-node's CUDA provider (it is a separate download, skipped by default here). */
export const CUDA_INSTALL_HINT =
  "onnxruntime-node downloads its CUDA 12 provider (Linux x64 only) from NuGet at install time when asked: run " +
  "`npm install onnxruntime-node --onnxruntime-node-install=cuda12` in your project, or for an existing install " +
  "`ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js`; the machine also needs an " +
  'NVIDIA driver with the CUDA 12 runtime and cuDNN 9 libraries on the library path';

type Ort = typeof import('onnxruntime-node');
let ortModule: Ort | undefined;
function ort(): Ort {
  if (!ortModule) {
    try {
      ortModule = require('onnxruntime-node') as Ort;
    } catch (e) {
      throw new NadirError(`onnxruntime-node could not be loaded (${(e as Error).message}); reinstall it with \`npm install onnxruntime-node\``);
    }
  }
  return ortModule;
}

/** onnxruntime-node's folder of native libraries for this platform. */
function ortBinDir(): string | undefined {
  try {
    const pkg = require.resolve('onnxruntime-node/package.json');
    return path.join(path.dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

/**
 * True when onnxruntime-node supports CUDA here and its provider libraries are installed. Says
 * nothing yet about the GPU and CUDA libraries; `resolveExecutionProvider` also tries a session.
 */
export function cudaProviderInstalled(): boolean {
  let listed = false;
  try {
    listed = ort().listSupportedBackends().some((b) => b.name === 'cuda');
  } catch {
    return false;
  }
  const dir = ortBinDir();
  if (!listed || !dir) return false;
  const ext = process.platform === 'win32' ? '.dll' : '.so';
  const prefix = process.platform === 'win32' ? '' : 'lib';
  return ['onnxruntime_providers_shared', 'onnxruntime_providers_cuda'].every((n) => fs.existsSync(path.join(dir, `${prefix}${n}${ext}`)));
}

/** A one-node model (y = x + 0) to see whether a CUDA session can be created at all. */
function probeModel(): Uint8Array {
  // Built with the exporter's encoder so no test asset is needed.
  const { networkToOnnx } = require('./onnx-export') as typeof import('./onnx-export');
  const one = new Float32Array([1]);
  return networkToOnnx({ kind: 'autoencoder', mean: new Float32Array([0]), std: one, layers: [{ inputs: 1, outputs: 1, weight: one, bias: new Float32Array([0]), activation: 'identity' }] });
}

let cudaProbe: string | null | undefined;
/** null when a CUDA session works, else why not. Tried once per process, synchronously. */
function probeCuda(): string | null {
  if (cudaProbe === undefined) {
    if (!cudaProviderInstalled()) cudaProbe = "onnxruntime-node's CUDA provider is not installed";
    else {
      cudaProbe = null;
      try {
        // Without the synchronous binding we cannot try here; a failing CUDA session then reports at load.
        if (syncBinding()) createSyncSession(probeModel(), { executionProviders: ['cuda'], logSeverityLevel: 4 });
      } catch (e) {
        cudaProbe = `a CUDA session could not be created: ${(e as Error).message}`;
      }
    }
  }
  return cudaProbe;
}

const told = new WeakSet<(line: string) => void>();
const defaultLogger = (line: string) => console.warn(line);

/**
 * The provider to use for a request. 'auto' picks CUDA when it works and the CPU otherwise, and
 * says which in one line (once per process and logger; default logger: console.warn).
 * 'cuda' where it does not work throws an ExecutionProviderError with the install instructions.
 */
export function resolveExecutionProvider(requested: ExecutionProvider = 'auto', logger: (line: string) => void = defaultLogger): 'cpu' | 'cuda' {
  if (requested === 'cpu') return 'cpu';
  if (requested !== 'auto' && requested !== 'cuda') throw new OptionError(`Expected 'auto', 'cpu' or 'cuda' for executionProvider but received ${String(requested)}`);
  const why = probeCuda();
  if (requested === 'cuda') {
    if (why) throw new ExecutionProviderError(`executionProvider 'cuda' was requested but ${why}. ${CUDA_INSTALL_HINT}. Use executionProvider 'cpu' or 'auto' to run on the CPU.`);
    return 'cuda';
  }
  const ep = why ? 'cpu' : 'cuda';
  if (!told.has(logger)) {
    told.add(logger);
    logger(ep === 'cuda'
      ? "nadir: ONNX Runtime runs on the GPU (CUDA execution provider; executionProvider 'auto')"
      : `nadir: ONNX Runtime runs on the CPU (executionProvider 'auto': ${why}; see the README for the opt-in CUDA install)`);
  }
  return ep;
}

export interface OnnxSessionOptions {
  /** 'auto' (default): CUDA when onnxruntime-node's CUDA provider works, else CPU; 'cpu'; 'cuda' (throws when unavailable). */
  executionProvider?: ExecutionProvider;
  /** CPU threads ONNX Runtime may use in all; 0 = all cores. Default 0. */
  threads?: number;
  /** Rows per ONNX Runtime call. Default 8192. */
  batchSize?: number;
  /** Batches of at least this many rows run in worker threads, keeping the event loop free. Default 16384. */
  workerThreshold?: number;
  /** Worker threads for large batches; 0 runs every batch on the main thread. Default min(threads, 4) (1 on CUDA). */
  workers?: number;
  /** Receives the one-line notice of which provider 'auto' chose. Default console.warn. */
  logger?: (line: string) => void;
}

export const SESSION_OPTIONS = ['executionProvider', 'batchSize', 'workerThreshold', 'workers'] as const;

/** Reads the session options shared by every ONNX-backed detector; `threads` comes from the detector. */
export function readSessionOptions(owner: string, o: Record<string, unknown>): Required<Omit<OnnxSessionOptions, 'logger' | 'threads'>> {
  return {
    executionProvider: optEnum(owner, 'executionProvider', o.executionProvider, ['auto', 'cpu', 'cuda'] as const, 'auto'),
    batchSize: optInt(owner, 'batchSize', o.batchSize, 8192, 1, 1 << 24),
    workerThreshold: optInt(owner, 'workerThreshold', o.workerThreshold, 16384, 1, 2 ** 31 - 1),
    workers: optInt(owner, 'workers', o.workers, -1, 0, 64), // -1: pick from threads and provider
  };
}

interface PoolWorker {
  worker: Worker;
  ready: boolean;
  /** Tasks posted to it and not answered yet. */
  pending: number;
}

// Tasks posted ahead to one worker: with two, the next one already waits in the worker's message
// queue when a run ends, so the worker does not idle while the main thread wakes up, takes the
// reply and posts again (about 0.1 ms a task, 5-10 % of the throughput at 8192-row chunks).
const TASKS_AHEAD = 2;

interface PendingTask {
  task: WorkerTask;
  resolve: (r: { arrays: Float32Array[]; input: Float32Array }) => void;
  reject: (e: Error) => void;
}

/** A small pool of worker threads, each holding its own session of the same model. */
class WorkerPool {
  private workers: PoolWorker[] = [];
  private queue: PendingTask[] = [];
  private inFlight = new Map<number, PendingTask & { w: PoolWorker }>();
  private nextId = 1;
  private ready: Promise<void>;
  private failed?: Error;

  constructor(size: number, init: WorkerInit) {
    const file = path.join(__dirname, 'ort-worker.js');
    const starts: Promise<void>[] = [];
    for (let i = 0; i < size; i++) {
      const worker = new Worker(file, { workerData: init });
      const pw: PoolWorker = { worker, ready: false, pending: 0 };
      this.workers.push(pw);
      starts.push(new Promise<void>((resolve, reject) => {
        worker.once('message', (m: { ready: boolean; error?: string }) => {
          if (!m.ready) return reject(new NadirError(`a worker thread could not create its ONNX Runtime session: ${m.error}`));
          pw.ready = true;
          worker.on('message', (r: WorkerReply) => this.onReply(pw, r));
          resolve();
        });
        worker.once('error', (e) => reject(e));
      }));
      worker.on('error', (e) => this.onCrash(pw, e));
      worker.on('exit', (code) => { if (code !== 0) this.onCrash(pw, new Error(`exited with code ${code}`)); });
    }
    this.ready = Promise.all(starts).then(() => { this.unrefIfIdle(); });
    this.ready.catch((e) => { this.failed = e; });
  }

  /** Runs a task; resolves with its outputs and its input buffer, handed back for reuse. */
  async run(task: Omit<WorkerTask, 'id'>): Promise<{ arrays: Float32Array[]; input: Float32Array }> {
    await this.ready;
    if (this.failed) throw this.failed;
    return new Promise((resolve, reject) => {
      this.queue.push({ task: { ...task, id: this.nextId++ }, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      // The ready worker with the fewest tasks pending, if it can take one more.
      let w: PoolWorker | undefined;
      for (const c of this.workers) if (c.ready && c.pending < TASKS_AHEAD && (!w || c.pending < w.pending)) w = c;
      if (!w) break;
      const p = this.queue.shift()!;
      w.pending++;
      w.worker.ref();
      this.inFlight.set(p.task.id, { ...p, w });
      w.worker.postMessage(p.task, [p.task.data.buffer as ArrayBuffer]);
    }
  }

  private onReply(w: PoolWorker, r: WorkerReply): void {
    const p = this.inFlight.get(r.id);
    if (!p) return;
    this.inFlight.delete(r.id);
    w.pending--;
    if (r.ok) p.resolve({ arrays: r.arrays, input: r.input });
    else p.reject(new DataError(`ONNX Runtime could not run the model (in a worker thread): ${r.error}`));
    this.pump();
    this.unrefIfIdle();
  }

  private onCrash(w: PoolWorker, e: Error): void {
    this.failed = new NadirError(`an ONNX Runtime worker thread stopped: ${e.message}`);
    for (const [id, p] of this.inFlight) if (p.w === w) { this.inFlight.delete(id); p.reject(this.failed); }
    for (const p of this.queue.splice(0)) p.reject(this.failed);
  }

  // Idle workers must not keep the process alive.
  private unrefIfIdle(): void {
    for (const w of this.workers) if (w.ready && w.pending === 0) w.worker.unref();
  }

  get broken(): boolean {
    return this.failed !== undefined;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.workers = [];
  }
}

/** Output arrays of one batch (one per requested output, rows concatenated) and each one's values per row. */
export interface RunResult {
  arrays: Float32Array[];
  widths: number[];
}

/**
 * One ONNX model ready to run: a main-thread session for small batches, a lazily started pool
 * of worker threads for large ones, and a synchronous session for the latency path.
 */
export class OnnxSession {
  private pool?: WorkerPool;
  private syncSession?: ReturnType<typeof createSyncSession>;
  private mainSession?: Promise<InferenceSession>;

  private constructor(
    private readonly model: Uint8Array,
    /** The provider in use. */
    readonly executionProvider: 'cpu' | 'cuda',
    private readonly sessionOptions: Record<string, unknown>,
    private readonly workerSessionOptions: Record<string, unknown>,
    readonly batchSize: number,
    readonly workerThreshold: number,
    readonly workers: number,
  ) {}

  /** Chooses the provider now; ONNX Runtime sessions start on first use. */
  static open(model: Uint8Array, opts: OnnxSessionOptions = {}): OnnxSession {
    checkOptionNames('OnnxSession', opts, ['executionProvider', 'threads', 'batchSize', 'workerThreshold', 'workers', 'logger']);
    const so = readSessionOptions('OnnxSession', opts as Record<string, unknown>);
    const threads = optInt('OnnxSession', 'threads', opts.threads, 0, 0, 1024) || cores();
    const ep = resolveExecutionProvider(so.executionProvider, opts.logger);
    const workers = so.workers >= 0 ? so.workers : ep === 'cuda' ? 1 : Math.min(threads, 4);
    const base = { executionProviders: [ep], interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3 };
    const sessionOptions = { ...base, intraOpNumThreads: threads };
    const workerSessionOptions = { ...base, intraOpNumThreads: Math.max(1, Math.floor(threads / Math.max(1, workers))) };
    return new OnnxSession(model, ep, sessionOptions, workerSessionOptions, so.batchSize, so.workerThreshold, workers);
  }

  /** `open`, then loads the model into ONNX Runtime (so load errors surface here). */
  static async create(model: Uint8Array, opts: OnnxSessionOptions = {}): Promise<OnnxSession> {
    const s = OnnxSession.open(model, opts);
    await s.main();
    return s;
  }

  private main(): Promise<InferenceSession> {
    if (!this.mainSession) {
      this.mainSession = ort().InferenceSession.create(this.model, this.sessionOptions as InferenceSession.SessionOptions).catch((e: Error) => {
        this.mainSession = undefined;
        throw new ModelFileError(`ONNX Runtime could not load the model: ${e.message}`);
      });
    }
    return this.mainSession;
  }

  /**
   * Runs a rows x cols float32 batch through the model in chunks and returns the named outputs.
   * Batches of at least `workerThreshold` rows run in worker threads; smaller ones on this thread.
   * `fixedRows` > 0: the model takes exactly that many rows per call (the last chunk is padded).
   */
  async run(input: string, data: Float32Array, rows: number, cols: number, outputs: string[], fixedRows = 0): Promise<RunResult> {
    checkBatch(data, rows, cols);
    if (rows === 0) return { arrays: outputs.map(() => new Float32Array(0)), widths: outputs.map(() => 0) };
    // Load on this thread first, even for the worker path: a bad model then fails here, with a clear error.
    const session = await this.main();
    if (this.workers > 0 && rows >= this.workerThreshold) {
      if (!this.pool || this.pool.broken) this.pool = new WorkerPool(this.workers, { model: this.model, sessionOptions: this.workerSessionOptions });
      return this.runInWorkers(input, data, rows, cols, outputs, fixedRows);
    }
    const chunks = planChunks(rows, this.batchSize, fixedRows);
    const asm = new Assembler(rows, outputs, chunks.length);
    const T = ort().Tensor;
    for (const c of chunks) {
      let res: InferenceSession.ReturnType;
      try {
        res = await session.run({ [input]: new T('float32', chunkInput(data, cols, c), [c.fed, cols]) }, outputs);
      } catch (e) {
        throw new DataError(`ONNX Runtime could not run the model: ${(e as Error).message}`);
      }
      putChecked(asm, c, outputs.map((o) => (res[o] as OrtTensor | undefined)?.data));
    }
    return asm.results();
  }

  private async runInWorkers(input: string, data: Float32Array, rows: number, cols: number, outputs: string[], fixedRows: number): Promise<RunResult> {
    // Tasks of one chunk each, queued to whichever worker is free. A task's rows are copied into a
    // buffer that is transferred to the worker and back with the reply, then refilled for a later
    // task: the copies land in memory already touched (fresh pages are slow to fault in) and the
    // worker reads them in place.
    let step = this.batchSize;
    if (fixedRows > 0) step = Math.max(1, Math.floor(step / fixedRows)) * fixedRows;
    const nParts = Math.ceil(rows / step);
    const asm = new Assembler(rows, outputs, nParts);
    // A few tasks in flight per worker; rows are copied only when their task is sent, so the main
    // thread never spends long in one go.
    let next = 0;
    let failed: unknown;
    const lane = async (): Promise<void> => {
      while (next < nParts && failed === undefined) {
        const s = next++ * step;
        const r = Math.min(step, rows - s);
        const buf = this.takeBuffer(step * cols);
        buf.set(data.subarray(s * cols, (s + r) * cols));
        try {
          const reply = await this.pool!.run({ input, outputs, data: buf, rows: r, cols, batchSize: step, fixedRows });
          this.giveBuffer(reply.input);
          if (failed === undefined) putChecked(asm, { start: s, rows: r, fed: r }, reply.arrays);
        } catch (e) {
          if (failed === undefined) failed = e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(nParts, this.workers * TASKS_AHEAD) }, lane));
    if (failed !== undefined) throw failed;
    return asm.results();
  }

  // Input buffers for worker tasks, kept between batches (at most two per worker, the tasks in flight).
  private spare: Float32Array[] = [];

  private takeBuffer(length: number): Float32Array {
    while (this.spare.length) {
      const b = this.spare.pop()!;
      if (b.length === length) return b;
    }
    return new Float32Array(length);
  }

  private giveBuffer(b: Float32Array): void {
    if (b instanceof Float32Array && b.byteLength > 0 && this.spare.length < TASKS_AHEAD * this.workers) this.spare.push(b);
  }

  /**
   * Runs a small batch synchronously on this thread (the latency path). Throws a NadirError when
   * this onnxruntime-node version has no synchronous entry point.
   */
  runSync(input: string, data: Float32Array, rows: number, cols: number, outputs: string[], fixedRows = 0): RunResult {
    // The latency path runs one row or a few: one intra-op thread avoids waking a thread pool per call.
    checkBatch(data, rows, cols);
    if (!this.syncSession) this.syncSession = createSyncSession(this.model, { ...this.sessionOptions, intraOpNumThreads: 1 });
    const chunks = planChunks(rows, this.batchSize, fixedRows);
    const asm = new Assembler(rows, outputs, chunks.length);
    const T = ort().Tensor;
    const fetches: Record<string, null> = {};
    for (const o of outputs) fetches[o] = null;
    for (const c of chunks) {
      let res: Record<string, { data: unknown }>;
      try {
        res = this.syncSession.run({ [input]: new T('float32', chunkInput(data, cols, c), [c.fed, cols]) }, fetches, {});
      } catch (e) {
        throw new DataError(`ONNX Runtime could not run the model: ${(e as Error).message}`);
      }
      putChecked(asm, c, outputs.map((o) => res[o]?.data));
    }
    return asm.results();
  }

  /** Ends the worker threads and frees the sessions. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    this.spare = [];
    if (pool) await pool.close();
    const main = this.mainSession;
    this.mainSession = undefined;
    this.syncSession = undefined;
    if (main) await (await main.catch(() => undefined))?.release();
  }
}

function checkBatch(data: Float32Array, rows: number, cols: number): void {
  if (!(data instanceof Float32Array)) throw new DataError(`Expected a Float32Array for data but received ${data === null ? 'null' : typeof data}`);
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols <= 0 || data.length !== rows * cols)
    throw new DataError(`data has ${data.length} values but ${rows} rows x ${cols} cols needs ${rows * cols}`);
}

function putChecked(asm: Assembler, c: { start: number; rows: number; fed: number }, values: unknown[]): void {
  try {
    asm.put(c, values as ArrayLike<unknown>[]);
  } catch (e) {
    if (e instanceof OutputError) throw new DataError(e.message);
    throw e;
  }
}

function createSyncSession(model: Uint8Array, sessionOptions: Record<string, unknown>): SyncSession {
  ort();
  if (!syncBinding())
    throw new NadirError('scoreSync needs the synchronous session of onnxruntime-node, which this onnxruntime-node version does not expose; use the asynchronous score() instead');
  try {
    return openSyncSession(model, sessionOptions)!;
  } catch (e) {
    throw new ModelFileError(`ONNX Runtime could not load the model: ${(e as Error).message}`);
  }
}

function cores(): number {
  const o = os as unknown as { availableParallelism?: () => number };
  return typeof o.availableParallelism === 'function' ? o.availableParallelism() : os.cpus().length;
}

