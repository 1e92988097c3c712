// Bridges the `Network` description (network.ts) and the native trainer / forward pass: builds the
// int32 "plan" and float "blob" the addon reads (layout documented in native/include/nadir/nn.h),
// turns the trainer's output back into a Network, and runs training with onEpoch / AbortSignal.
import * as os from 'os';
import { native } from '../binding';
import { NadirError } from '../errors';
import { Activation, DenseLayer, Network } from './network';

/** Training stopped because its AbortSignal fired. `cause` is the signal's reason. */
export class AbortError extends NadirError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message);
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

export const ACTIVATIONS: readonly Activation[] = ['identity', 'relu', 'tanh', 'sigmoid'];
const ACT_CODE: Record<Activation, number> = { identity: 0, relu: 1, tanh: 2, sigmoid: 3 };

/** Shape of one layer before it has weights. */
export interface LayerShape {
  inputs: number;
  outputs: number;
  activation: Activation;
  norm: boolean;
  dropout: boolean;
}

export interface NetShape {
  kind: 'autoencoder' | 'vae';
  features: number;
  /** All layers in plan order (vae: encoder..., mu, logVar, decoder...). */
  layers: LayerShape[];
  nEncoder: number;
}

export function planOf(shape: NetShape): Int32Array {
  const p = [1, shape.kind === 'vae' ? 1 : 0, shape.features, shape.layers.length, shape.nEncoder];
  for (const l of shape.layers) p.push(l.inputs, l.outputs, ACT_CODE[l.activation], l.norm ? 1 : 0, l.dropout ? 1 : 0);
  return Int32Array.from(p);
}

interface Offsets {
  mean: number;
  std: number;
  beta: number;
  layers: { w: number; b: number; gamma: number; beta: number; eps: number }[];
  size: number;
}

function offsetsOf(shape: NetShape): Offsets {
  const d = shape.features;
  let off = 2 * d + 1;
  const layers = shape.layers.map((l) => {
    const o = { w: off, b: off + l.inputs * l.outputs, gamma: -1, beta: -1, eps: -1 };
    off = o.b + l.outputs;
    if (l.norm) {
      o.gamma = off;
      o.beta = off + l.outputs;
      o.eps = off + 2 * l.outputs;
      off += 2 * l.outputs + 1;
    }
    return o;
  });
  return { mean: 0, std: d, beta: 2 * d, layers, size: off };
}

/** The plan layers of a Network, in order. */
function layersOf(net: Network): DenseLayer[] {
  return net.kind === 'vae' ? [...net.encoder, net.mu, net.logVar, ...net.decoder] : net.layers;
}

export function shapeOf(net: Network): NetShape {
  return {
    kind: net.kind,
    features: net.mean.length,
    layers: layersOf(net).map((l) => ({ inputs: l.inputs, outputs: l.outputs, activation: l.activation, norm: !!l.norm, dropout: false })),
    nEncoder: net.kind === 'vae' ? net.encoder.length : 0,
  };
}

/** Builds a Network from the trainer's blob (weights in PyTorch's outputs x inputs layout). */
export function networkFromBlob(shape: NetShape, blob: Float32Array): Network {
  const o = offsetsOf(shape);
  if (blob.length !== o.size) throw new NadirError(`the trainer returned ${blob.length} parameters, expected ${o.size}`);
  const d = shape.features;
  const layers: DenseLayer[] = shape.layers.map((l, i) => {
    const lo = o.layers[i];
    const layer: DenseLayer = {
      inputs: l.inputs,
      outputs: l.outputs,
      weight: blob.slice(lo.w, lo.w + l.inputs * l.outputs),
      bias: blob.slice(lo.b, lo.b + l.outputs),
      activation: l.activation,
    };
    if (l.norm) layer.norm = { gamma: blob.slice(lo.gamma, lo.gamma + l.outputs), beta: blob.slice(lo.beta, lo.beta + l.outputs), epsilon: Number(blob[lo.eps].toPrecision(6)) };
    return layer;
  });
  const mean = blob.slice(0, d);
  const std = blob.slice(d, 2 * d);
  if (shape.kind === 'autoencoder') return { kind: 'autoencoder', mean, std, layers };
  const ne = shape.nEncoder;
  return { kind: 'vae', mean, std, encoder: layers.slice(0, ne), mu: layers[ne], logVar: layers[ne + 1], decoder: layers.slice(ne + 2), beta: blob[2 * d] };
}

/** Throws a NadirError naming the first inconsistency of a Network (sizes, activations, arrays). */
export function validateNetwork(net: Network): void {
  const bad = (m: string) => {
    throw new NadirError(`invalid network: ${m}`);
  };
  if (!net || (net.kind !== 'autoencoder' && net.kind !== 'vae')) bad(`kind must be 'autoencoder' or 'vae'`);
  if (!(net.mean instanceof Float32Array) || !(net.std instanceof Float32Array) || net.mean.length === 0 || net.std.length !== net.mean.length)
    bad('mean and std must be Float32Arrays of the feature count');
  const d = net.mean.length;
  const all = layersOf(net);
  if (!Array.isArray(all) || all.some((l) => !l)) bad('layers are missing');
  all.forEach((l, i) => {
    if (!Number.isInteger(l.inputs) || !Number.isInteger(l.outputs) || l.inputs < 1 || l.outputs < 1) bad(`layer ${i} has invalid sizes`);
    if (!(l.weight instanceof Float32Array) || l.weight.length !== l.inputs * l.outputs) bad(`layer ${i} weight must be a Float32Array of ${l.inputs * l.outputs}`);
    if (!(l.bias instanceof Float32Array) || l.bias.length !== l.outputs) bad(`layer ${i} bias must be a Float32Array of ${l.outputs}`);
    if (!ACTIVATIONS.includes(l.activation)) bad(`layer ${i} has unknown activation '${l.activation}'`);
    if (l.norm) {
      if (!(l.norm.gamma instanceof Float32Array) || l.norm.gamma.length !== l.outputs || !(l.norm.beta instanceof Float32Array) || l.norm.beta.length !== l.outputs)
        bad(`layer ${i} norm gamma/beta must be Float32Arrays of ${l.outputs}`);
      if (!(l.norm.epsilon > 0)) bad(`layer ${i} norm epsilon must be positive`);
    }
  });
  const chain = (ls: DenseLayer[], w: number, what: string) => {
    for (const l of ls) {
      if (l.inputs !== w) bad(`${what} layer takes ${l.inputs} inputs but receives ${w}`);
      w = l.outputs;
    }
    return w;
  };
  if (net.kind === 'autoencoder') {
    if (net.layers.length === 0) bad('an autoencoder needs at least one layer');
    if (chain(net.layers, d, 'a') !== d) bad(`the last layer must output ${d} features`);
  } else {
    const h = chain(net.encoder, d, 'an encoder');
    if (net.mu.inputs !== h || net.logVar.inputs !== h || net.mu.outputs !== net.logVar.outputs) bad('mu and logVar must map the encoder output to the same latent size');
    if (net.mu.activation !== 'identity' || net.logVar.activation !== 'identity' || net.mu.norm || net.logVar.norm) bad('mu and logVar must be plain linear layers');
    if (net.decoder.length === 0 || chain(net.decoder, net.mu.outputs, 'a decoder') !== d) bad(`the decoder must map the latent size to ${d} features`);
    if (!(net.beta >= 0)) bad('beta must be a non-negative number');
  }
}

/** Plan + packed blob (weights transposed to inputs x outputs) for the native forward pass. */
export interface Packed {
  plan: Int32Array;
  blob: Float32Array;
  features: number;
}

export function packNetwork(net: Network): Packed {
  validateNetwork(net);
  const shape = shapeOf(net);
  const o = offsetsOf(shape);
  const blob = new Float32Array(o.size);
  const d = shape.features;
  blob.set(net.mean, 0);
  blob.set(net.std, d);
  blob[2 * d] = net.kind === 'vae' ? net.beta : 0;
  layersOf(net).forEach((l, i) => {
    const lo = o.layers[i];
    const w = l.weight;
    const nIn = l.inputs;
    const nOut = l.outputs;
    for (let r = 0; r < nOut; r++) for (let c = 0; c < nIn; c++) blob[lo.w + c * nOut + r] = w[r * nIn + c];
    blob.set(l.bias, lo.b);
    if (l.norm) {
      blob.set(l.norm.gamma, lo.gamma);
      blob.set(l.norm.beta, lo.beta);
      blob[lo.eps] = l.norm.epsilon;
    }
  });
  return { plan: planOf(shape), blob, features: d };
}

/** Names a Network's arrays for the model file, e.g. 'encoder.0.weight', 'mu.bias'. */
export function networkArrays(net: Network): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = { 'net.mean': net.mean, 'net.std': net.std };
  const put = (prefix: string, l: DenseLayer) => {
    out[`${prefix}.weight`] = l.weight;
    out[`${prefix}.bias`] = l.bias;
    if (l.norm) {
      out[`${prefix}.gamma`] = l.norm.gamma;
      out[`${prefix}.beta`] = l.norm.beta;
    }
  };
  if (net.kind === 'autoencoder') net.layers.forEach((l, i) => put(`layers.${i}`, l));
  else {
    net.encoder.forEach((l, i) => put(`encoder.${i}`, l));
    put('mu', net.mu);
    put('logVar', net.logVar);
    net.decoder.forEach((l, i) => put(`decoder.${i}`, l));
  }
  return out;
}

type LayerMeta = { inputs: number; outputs: number; activation: Activation; epsilon?: number };

/** JSON part of a Network (everything but the arrays). */
export function networkMeta(net: Network): Record<string, unknown> {
  const m = (l: DenseLayer): LayerMeta => ({ inputs: l.inputs, outputs: l.outputs, activation: l.activation, ...(l.norm ? { epsilon: l.norm.epsilon } : {}) });
  if (net.kind === 'autoencoder') return { kind: net.kind, layers: net.layers.map(m) };
  return { kind: net.kind, encoder: net.encoder.map(m), mu: m(net.mu), logVar: m(net.logVar), decoder: net.decoder.map(m), beta: net.beta };
}

/** Rebuilds and validates a Network from networkMeta + networkArrays. */
export function networkFromState(meta: any, arrays: Record<string, unknown>): Network {
  const arr = (name: string): Float32Array => {
    const a = arrays[name];
    if (!(a instanceof Float32Array)) throw new NadirError(`array '${name}' is missing or not a Float32Array`);
    return a;
  };
  const layer = (prefix: string, m: LayerMeta): DenseLayer => {
    if (!m || typeof m !== 'object') throw new NadirError(`layer '${prefix}' is missing`);
    const l: DenseLayer = { inputs: m.inputs, outputs: m.outputs, activation: m.activation, weight: arr(`${prefix}.weight`), bias: arr(`${prefix}.bias`) };
    if (m.epsilon !== undefined) l.norm = { gamma: arr(`${prefix}.gamma`), beta: arr(`${prefix}.beta`), epsilon: m.epsilon };
    return l;
  };
  if (!meta || typeof meta !== 'object') throw new NadirError('network description is missing');
  let net: Network;
  if (meta.kind === 'autoencoder') {
    if (!Array.isArray(meta.layers)) throw new NadirError('network layers are missing');
    net = { kind: 'autoencoder', mean: arr('net.mean'), std: arr('net.std'), layers: meta.layers.map((m: LayerMeta, i: number) => layer(`layers.${i}`, m)) };
  } else if (meta.kind === 'vae') {
    if (!Array.isArray(meta.encoder) || !Array.isArray(meta.decoder)) throw new NadirError('network layers are missing');
    net = {
      kind: 'vae',
      mean: arr('net.mean'),
      std: arr('net.std'),
      encoder: meta.encoder.map((m: LayerMeta, i: number) => layer(`encoder.${i}`, m)),
      mu: layer('mu', meta.mu),
      logVar: layer('logVar', meta.logVar),
      decoder: meta.decoder.map((m: LayerMeta, i: number) => layer(`decoder.${i}`, m)),
      beta: Number(meta.beta),
    };
  } else throw new NadirError(`unknown network kind '${meta.kind}'`);
  validateNetwork(net);
  return net;
}

/** One epoch's progress, passed to `onEpoch`. */
export interface EpochInfo {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch (with dropout active), per feature. */
  loss: number;
  /** Loss on the validation split (NaN without one). */
  valLoss: number;
  /** Wall-clock seconds the epoch took. */
  seconds: number;
}

export interface TrainSettings {
  epochs: number;
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  dropout: number;
  validationSplit: number;
  patience: number;
  clipNorm: number;
  beta: number;
  seed: number;
  threads: number;
}

export interface TrainHistory {
  /** Training loss per epoch. */
  loss: Float32Array;
  /** Validation loss per epoch (NaN without a validation split). */
  valLoss: Float32Array;
  /** Epoch whose weights were kept (1-based). */
  bestEpoch: number;
  stoppedEarly: boolean;
}

/** Native threads for a `threads` option value (0 = all cores). */
export function resolveThreads(threads: number): number {
  if (threads > 0) return threads;
  const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, n);
}

// Abort flags of the trainings in flight, raised by one process 'exit' listener.
const running = new Set<Int32Array>();
let exitHooked = false;
function watchExit(flag: Int32Array): void {
  running.add(flag);
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const f of running) f[0] = 1;
  });
}

/**
 * Trains natively off the main thread. onEpoch runs on the main thread after every epoch (training
 * waits for it); an error it throws stops training and rejects with that error. signal cancels
 * between mini-batches and rejects with an AbortError.
 */
export async function trainNetwork(
  owner: string,
  shape: NetShape,
  X: Float32Array,
  rows: number,
  s: TrainSettings,
  onEpoch?: (e: EpochInfo) => void,
  signal?: AbortSignal,
): Promise<{ network: Network; history: TrainHistory }> {
  const cancelled = () => new AbortError(`${owner} training was cancelled by its AbortSignal`, { cause: signal?.reason });
  if (signal?.aborted) throw cancelled();
  const flag = new Int32Array(1);
  let userError: unknown;
  let failed = false;
  const onAbort = () => {
    flag[0] = 1;
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  // A process exiting mid-training stops the native loop (the thread pool is joined at exit).
  watchExit(flag);
  // Always passed, even without a user callback: the per-epoch round trip is also how the native
  // side notices that this thread's JavaScript environment is gone (a terminated worker_thread).
  const cb = (e: EpochInfo) => {
    if (failed || !onEpoch) return;
    try {
      onEpoch(e);
    } catch (err) {
      failed = true;
      userError = err;
      flag[0] = 1;
    }
  };
  const opts = {
    epochs: s.epochs,
    batchSize: s.batchSize,
    learningRate: s.learningRate,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    weightDecay: s.weightDecay,
    dropout: s.dropout,
    validationSplit: s.validationSplit,
    patience: s.patience,
    clipNorm: s.clipNorm,
    beta: s.beta,
    normEpsilon: 1e-5,
    seed: s.seed,
    threads: resolveThreads(s.threads),
    // Without a user callback the per-epoch call only watches for the environment's end: no wait.
    waitOnEpoch: onEpoch ? 1 : 0,
  };
  let res: { params: Float32Array; loss: Float32Array; valLoss: Float32Array; bestEpoch: number; stoppedEarly: boolean };
  try {
    res = await native.nnTrain(planOf(shape), X, rows, opts, cb, flag);
  } catch (e) {
    if (failed) throw userError;
    if (flag[0] && /aborted/.test((e as Error).message)) throw cancelled();
    throw new NadirError(`${owner} training failed: ${(e as Error).message}`);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    running.delete(flag);
  }
  if (failed) throw userError;
  return {
    network: networkFromBlob(shape, res.params),
    history: { loss: res.loss, valLoss: res.valLoss, bestEpoch: res.bestEpoch, stoppedEarly: res.stoppedEarly },
  };
}

/** Scores for rows of a packed network; mode 0 = decoded mean, 1 = Monte-Carlo (VAE). */
export function scoreSyncNative(p: Packed, X: Float32Array, rows: number, mode: number, samples: number, seed: number): Float32Array {
  const out = new Float32Array(rows);
  native.nnScore(p.plan, p.blob, X, rows, mode, samples, seed, out, null, null, 1);
  return out;
}

/** Batch scores (and per-feature terms when asked) off the main thread. */
export async function scoreAsyncNative(
  p: Packed,
  X: Float32Array,
  rows: number,
  mode: number,
  samples: number,
  seed: number,
  threads: number,
  contributions = false,
  reconstruction = false,
): Promise<{ scores: Float32Array; contributions?: Float32Array; reconstruction?: Float32Array }> {
  const scores = new Float32Array(rows);
  const contrib = contributions ? new Float32Array(rows * p.features) : null;
  const recon = reconstruction ? new Float32Array(rows * p.features) : null;
  await native.nnScoreAsync(p.plan, p.blob, X, rows, mode, samples, seed, scores, contrib, recon, resolveThreads(threads));
  return { scores, contributions: contrib ?? undefined, reconstruction: recon ?? undefined };
}
