// What AutoEncoder and VariationalAutoEncoder share: training options, native training with
// onEpoch / AbortSignal, the Network as fitted state, ONNX export, and the two scoring engines:
// the native forward pass (scoreSync, explain, reconstruct) and ONNX Runtime on the exported
// model (batch score, by default).
import { Matrix, MatrixLike } from '../data/matrix';
import { NadirError, OptionError } from '../errors';
import { optEnum, optInt, optNumber } from '../options';
import { Activation, DenseLayer, Network } from '../neural/network';
import { OnnxExportOptions, networkToOnnx } from '../neural/onnx-export';
import { ExecutionProvider, OnnxSession, readSessionOptions, resolveExecutionProvider } from '../neural/session';
import {
  ACTIVATIONS,
  EpochInfo,
  NetShape,
  Packed,
  TrainHistory,
  TrainSettings,
  networkArrays,
  networkFromState,
  networkMeta,
  packNetwork,
  scoreAsyncNative,
  scoreSyncNative,
  trainNetwork,
} from '../neural/native-net';
import { Detector, DetectorOptions, DetectorState, FitInput } from './base';

export interface NeuralOptions extends DetectorOptions {
  /** Activation of the hidden layers: 'relu' (default), 'leakyRelu' (slope 0.2), 'tanh', 'sigmoid' or 'identity'. */
  activation?: Activation;
  /** Dropout rate after every hidden layer while training, [0, 0.95]. Default 0.2. */
  dropout?: number;
  /** Adam learning rate. Default 1e-3. */
  learningRate?: number;
  /** Mini-batch size. Default 32. */
  batchSize?: number;
  /** Maximum number of passes over the data. Default 100. */
  epochs?: number;
  /** Share of rows held out (seeded) to measure the validation loss for early stopping, [0, 0.5]. Default 0.1. */
  validationSplit?: number;
  /** Stop after this many epochs without a better validation loss and restore the best weights; 0 = never stop early. Default 10. */
  patience?: number;
  /** Decoupled (AdamW) weight decay on the weight matrices. Default 0. */
  weightDecay?: number;
  /** Clip the gradients' global L2 norm to this value; 0 = no clipping. Default 0. */
  clipNorm?: number;
  /** 'layer' adds layer normalization before every hidden activation. Default 'none'. */
  normalization?: 'none' | 'layer';
  /** Called on the main thread after every epoch; throwing stops training and rejects `fit` with that error. Not saved. */
  onEpoch?: (e: EpochInfo) => void;
  /** Cancels training; `fit` then rejects with an AbortError. Not saved. */
  signal?: AbortSignal;
  /**
   * Engine of the batch `score` (and `predict`): 'onnx' (default) runs the exported model
   * (`toOnnx()`) in ONNX Runtime, large batches chunked in worker threads; 'native' runs the
   * addon's forward pass on the libuv pool. Scoring modes ONNX cannot express (the VAE's
   * score: 'mc') always run natively. `scoreSync`, `explain` and `reconstruct` are always native.
   */
  engine?: NeuralEngine;
  /** ONNX Runtime provider: 'auto' (default: CUDA when onnxruntime-node's CUDA provider works, else CPU, said in one line), 'cpu', 'cuda' (throws with install instructions when unavailable). */
  executionProvider?: ExecutionProvider;
  /** Rows per ONNX Runtime call in batch scoring. Default 8192. */
  inferenceBatchSize?: number;
  /** Batches of at least this many rows are scored in worker threads, keeping the event loop free. Default 16384. */
  workerThreshold?: number;
  /** Worker threads for large batches; 0 keeps every batch on the main thread. Default min(threads, 4), 1 on CUDA. */
  workers?: number;
  /** Receives the one-line notice of which provider executionProvider 'auto' chose. Default console.warn. Not saved. */
  logger?: (line: string) => void;
}

export type NeuralEngine = 'onnx' | 'native';

export const NEURAL_OPTIONS = [
  'activation',
  'dropout',
  'learningRate',
  'batchSize',
  'epochs',
  'validationSplit',
  'patience',
  'weightDecay',
  'clipNorm',
  'normalization',
  'engine',
  'executionProvider',
  'inferenceBatchSize',
  'workerThreshold',
  'workers',
] as const;

/** Per-call training hooks for `fit`. */
export interface FitHooks {
  onEpoch?: (e: EpochInfo) => void;
  signal?: AbortSignal;
}

export function optLayers(owner: string, name: string, v: unknown, def: number[], allowEmpty = false): number[] {
  if (v === undefined) return def;
  if (!Array.isArray(v) || (!allowEmpty && v.length === 0) || v.length > 64 || v.some((k) => !Number.isInteger(k) || k < 1 || k > 65536))
    throw new OptionError(
      `Expected ${allowEmpty ? 'an' : 'a non-empty'} array of layer sizes (integers in [1, 65536]) for ${owner} option '${name}' but received ${JSON.stringify(v)}`,
    );
  return [...v];
}

function checkHooks(owner: string, hooks: FitHooks | undefined): FitHooks {
  if (hooks === undefined) return {};
  if (hooks === null || typeof hooks !== 'object') throw new OptionError(`${owner}.fit hooks must be an object with onEpoch and/or signal`);
  if (hooks.onEpoch !== undefined && typeof hooks.onEpoch !== 'function')
    throw new OptionError(`Expected a function for ${owner} option 'onEpoch' but received ${typeof hooks.onEpoch}`);
  const s = hooks.signal as unknown as { aborted?: unknown; addEventListener?: unknown } | undefined;
  if (s !== undefined && (s === null || typeof s !== 'object' || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function'))
    throw new OptionError(`Expected an AbortSignal for ${owner} option 'signal'`);
  return { onEpoch: hooks.onEpoch, signal: hooks.signal };
}

export abstract class NeuralDetector<O extends NeuralOptions> extends Detector<O> {
  protected readonly train: Omit<TrainSettings, 'beta' | 'seed' | 'threads'>;
  protected readonly activationValue: Activation;
  protected readonly layerNorm: boolean;
  private readonly hooks: FitHooks;
  private readonly logger?: (line: string) => void;
  private readonly engineOption: NeuralEngine;
  private readonly sessionOptions: ReturnType<typeof readSessionOptions>;
  private callHooks?: FitHooks;
  private net?: Network;
  private packed?: Packed;
  private historyValue?: TrainHistory;
  /** The exported model and its ONNX Runtime session: built on first ONNX use, dropped when the network changes. */
  private onnxModel?: Uint8Array;
  private onnx?: OnnxSession;

  protected constructor(owner: string, options: O | undefined, known: readonly string[]) {
    const { onEpoch, signal, logger, ...rest } = (options ?? {}) as NeuralOptions;
    super(owner, (options === undefined ? undefined : rest) as O | undefined, [...NEURAL_OPTIONS, ...known]);
    this.hooks = checkHooks(owner, { onEpoch, signal });
    if (logger !== undefined && typeof logger !== 'function') throw new OptionError(`Expected a function for ${owner} option 'logger' but received ${typeof logger}`);
    this.logger = logger;
    const o = this.options;
    this.engineOption = optEnum(owner, 'engine', o.engine, ['onnx', 'native'] as const, 'onnx');
    // Same names and checks as OnnxDetector, except `batchSize`, which here is the training mini-batch.
    this.sessionOptions = readSessionOptions(owner, {
      executionProvider: o.executionProvider,
      batchSize: optInt(owner, 'inferenceBatchSize', o.inferenceBatchSize, 8192, 1, 1 << 24),
      workerThreshold: o.workerThreshold,
      workers: o.workers,
    });
    this.activationValue = optEnum(owner, 'activation', o.activation, ACTIVATIONS, 'relu');
    this.layerNorm = optEnum(owner, 'normalization', o.normalization, ['none', 'layer'] as const, 'none') === 'layer';
    this.train = {
      dropout: optNumber(owner, 'dropout', o.dropout, 0.2, 0, 0.95),
      learningRate: optNumber(owner, 'learningRate', o.learningRate, 1e-3, 0, 10, true),
      batchSize: optInt(owner, 'batchSize', o.batchSize, 32, 1, 1 << 20),
      epochs: optInt(owner, 'epochs', o.epochs, 100, 1, 1e6),
      validationSplit: optNumber(owner, 'validationSplit', o.validationSplit, 0.1, 0, 0.5),
      patience: optInt(owner, 'patience', o.patience, 10, 0, 1e6),
      weightDecay: optNumber(owner, 'weightDecay', o.weightDecay, 0, 0, 1),
      clipNorm: optNumber(owner, 'clipNorm', o.clipNorm, 0, 0),
    };
  }

  /** The layer shapes to train for `features` inputs. */
  protected abstract shapeFor(features: number): NetShape;
  /** KL weight passed to the trainer (VAE). */
  protected get klWeight(): number {
    return 0;
  }
  /** Native scoring mode (0 = decoded mean, 1 = Monte-Carlo) and samples. */
  protected get scoreMode(): { mode: number; samples: number } {
    return { mode: 0, samples: 1 };
  }

  /** The layers' multiply-adds (every Monte-Carlo draw of a VAE's decoder counted). */
  get costPerRow(): number | undefined {
    if (!this.fitted) return undefined;
    const macs = (ls: DenseLayer[]): number => ls.reduce((a, l) => a + l.inputs * l.outputs, 0);
    const net = this.net!;
    if (net.kind === 'autoencoder') return macs(net.layers);
    // Encoder and mean head once; the decoder once, or per draw (with the log-variance head) for Monte-Carlo scores.
    const { mode, samples } = this.scoreMode;
    return macs(net.encoder) + macs([net.mu]) + (mode === 1 ? macs([net.logVar]) + samples * macs(net.decoder) : macs(net.decoder));
  }
  /** The trained network (standardization + layers): what model files store and the ONNX exporter reads. */
  get network(): Network {
    this.ensureFitted();
    return this.net!;
  }

  /** The engine batch `score` uses: the `engine` option, or 'native' where ONNX cannot express the scoring mode. */
  get engine(): NeuralEngine {
    return this.onnxExpressible ? this.engineOption : 'native';
  }

  /** Whether the exported ONNX model computes this detector's scores (false for Monte-Carlo scoring). */
  protected get onnxExpressible(): boolean {
    return this.scoreMode.mode === 0;
  }

  /** The ONNX Runtime provider used for batch scoring: 'cpu' or 'cuda' (chosen on first access or first ONNX batch). */
  get executionProvider(): 'cpu' | 'cuda' {
    return this.session().executionProvider;
  }

  /**
   * The ONNX model (bytes of a ModelProto, opset >= 13) of the whole scoring path: input `input`
   * float32 [N, features] raw rows; standardization; the network; outputs `score` [N] (the
   * detector's score, decoded mean for a VAE) and `reconstruction` [N, features] in input units.
   */
  toOnnx(opts?: OnnxExportOptions): Uint8Array {
    return networkToOnnx(this.network, opts);
  }

  /** Frees the ONNX Runtime sessions and ends their worker threads (started again when needed). Idle workers never keep the process alive. */
  async close(): Promise<void> {
    const s = this.onnx;
    this.onnx = undefined;
    if (s) await s.close();
  }

  /** The cached ONNX Runtime session of the exported model (provider chosen now; models load on first run). */
  private session(): OnnxSession {
    this.ensureFitted();
    if (!this.onnx) {
      // Scoring only: without the reconstruction output ONNX Runtime does ~14% less work per row.
      this.onnxModel ??= networkToOnnx(this.net!, { reconstruction: false });
      const so = this.sessionOptions;
      this.onnx = OnnxSession.open(this.onnxModel, {
        executionProvider: so.executionProvider,
        batchSize: so.batchSize,
        workerThreshold: so.workerThreshold,
        ...(so.workers >= 0 ? { workers: so.workers } : {}),
        threads: this.threadsValue,
        ...(this.logger ? { logger: this.logger } : {}),
      });
    }
    return this.onnx;
  }

  /** Loss per epoch of the last `fit` (undefined after `load`). */
  get history(): TrainHistory | undefined {
    return this.historyValue;
  }

  /** Fits off the main thread; `hooks` (onEpoch, signal) override the constructor's for this call. */
  async fit(X: FitInput, hooks?: FitHooks): Promise<this> {
    this.callHooks = checkHooks(this.type, hooks);
    try {
      return await super.fit(X);
    } finally {
      this.callHooks = undefined;
    }
  }

  protected get minFitRows(): number {
    return 2;
  }

  protected async fitMatrix(m: Matrix): Promise<Float32Array> {
    const hooks = { ...this.hooks, ...Object.fromEntries(Object.entries(this.callHooks ?? {}).filter(([, v]) => v !== undefined)) } as FitHooks;
    // A CUDA request that cannot be met fails before training, not at the first score.
    if (this.engine === 'onnx' && this.sessionOptions.executionProvider === 'cuda') resolveExecutionProvider('cuda', this.logger);
    const { network, history } = await trainNetwork(
      this.type,
      this.shapeFor(m.cols),
      m.data,
      m.rows,
      { ...this.train, beta: this.klWeight, seed: this.seed, threads: this.threadsValue },
      hooks.onEpoch,
      hooks.signal,
    );
    this.setNetwork(network);
    this.historyValue = history;
    return (await this.forwardBatch(m)).scores;
  }

  private setNetwork(net: Network): void {
    this.packed = packNetwork(net);
    this.net = net;
    // A new network (refit or load) needs a new exported model and session.
    this.onnxModel = undefined;
    const old = this.onnx;
    this.onnx = undefined;
    if (old) void old.close().catch(() => {});
  }

  /**
   * Batch scoring off the main thread (native forward pass). Kept as one method so batch inference
   * can be routed through another engine (ONNX Runtime) without touching the rest.
   */
  protected async forwardBatch(m: Matrix, contributions = false): Promise<{ scores: Float32Array; contributions?: Float32Array }> {
    const { mode, samples } = this.scoreMode;
    return scoreAsyncNative(this.packed!, m.data, m.rows, mode, samples, this.seed, this.threadsValue, contributions);
  }

  // Every score contains (z_j - zhat_j)^2 for each standardized input z_j itself, so a NaN or
  // +-Inf input always makes its row's score non-finite (ONNX and native alike): score() reads
  // the input once and names the bad value only when a score says there is one.
  protected get nonFiniteInputShowsInScore(): boolean {
    return true;
  }

  /** Batch scores through the chosen engine (training scores, explain and reconstruct stay native). */
  protected async scoreMatrix(m: Matrix): Promise<Float32Array> {
    if (this.engine === 'native') return (await this.forwardBatch(m)).scores;
    const r = await this.session().run('input', m.data, m.rows, m.cols, ['score']);
    return r.arrays[0];
  }

  protected scoreMatrixSync(m: Matrix): Float32Array {
    const { mode, samples } = this.scoreMode;
    return scoreSyncNative(this.packed!, m.data, m.rows, mode, samples, this.seed);
  }

  /** Per-feature squared reconstruction errors in standardized units; each row sums to its reconstruction error. */
  protected async explainMatrix(m: Matrix): Promise<Float32Array> {
    return (await this.forwardBatch(m, true)).contributions!;
  }

  /** The reconstruction of X (the decoded mean for a VAE) in the input's units. */
  async reconstruct(X: MatrixLike): Promise<Matrix> {
    const m = this.prepareInput(X);
    if (m.rows === 0) return new Matrix(new Float32Array(0), 0, m.cols);
    const r = await scoreAsyncNative(this.packed!, m.data, m.rows, 0, 1, this.seed, this.threadsValue, false, true);
    const out = r.reconstruction!;
    const { mean, std } = this.net!;
    for (let k = 0; k < out.length; k++) {
      const j = k % m.cols;
      out[k] = out[k] * std[j] + mean[j];
    }
    return new Matrix(out, m.rows, m.cols);
  }

  protected exportState(): DetectorState {
    const h = this.historyValue;
    return {
      meta: { network: networkMeta(this.net!), ...(h ? { bestEpoch: h.bestEpoch, stoppedEarly: h.stoppedEarly } : {}) },
      arrays: { ...networkArrays(this.net!), ...(h ? { 'history.loss': h.loss, 'history.valLoss': h.valLoss } : {}) },
    };
  }

  protected importState(state: DetectorState): void {
    const net = networkFromState(state.meta.network, state.arrays);
    const expected = this.shapeFor(net.mean.length).kind;
    if (net.kind !== expected) throw new NadirError(`${this.type} needs a '${expected}' network but the file holds a '${net.kind}'`);
    if (net.mean.length !== this.nFeatures) throw new NadirError(`the network takes ${net.mean.length} features but the model was fitted on ${this.nFeatures}`);
    this.setNetwork(net);
    const loss = state.arrays['history.loss'];
    const valLoss = state.arrays['history.valLoss'];
    this.historyValue =
      loss instanceof Float32Array && valLoss instanceof Float32Array
        ? { loss, valLoss, bestEpoch: Number(state.meta.bestEpoch), stoppedEarly: !!state.meta.stoppedEarly }
        : undefined;
  }
}
