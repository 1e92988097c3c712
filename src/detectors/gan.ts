import { native } from '../binding';
import { Matrix, MatrixLike } from '../data/matrix';
import { NadirError, OptionError } from '../errors';
import { optBool, optEnum, optInt, optNumber } from '../options';
import { Activation } from '../neural/network';
import { ACTIVATIONS, AbortError, resolveThreads, unwatchExit, watchExit } from '../neural/native-net';
import { GAN_SCORES, GanNet, GanOnnxOptions, GanScore, GanShape, LayerShape, PackedGan, SCORE_CODE, ganArrays, ganFromBlob, ganFromState, ganMeta, ganPlan, ganToOnnx, packGan } from '../neural/gan-net';
import { Detector, DetectorOptions, DetectorState, registerDetector } from './base';
import { optLayers } from './neural-base';

/** One epoch of GAN training, passed to `onEpoch`. */
export interface GanEpochInfo {
  /** 1-based epoch number. */
  epoch: number;
  /** Discriminator loss: mean BCE on real pairs (target `realLabel`) + mean BCE on fake pairs (target 0). */
  dLoss: number;
  /** Encoder + generator adversarial loss (non-saturating BCE with flipped labels), without the cycle term. */
  gLoss: number;
  /** Mean squared cycle error (G(E(x)) - x)^2 per feature, standardized units. */
  cycleLoss: number;
  /** Mean D(x, E(x)) and D(G(z), z) at the discriminator step (probabilities). */
  dReal: number;
  dFake: number;
  /** Mean over features of var(G(z)) / var(x) (each capped at 1), z from the prior: the collapse check. */
  varRatio: number;
  /** Wall-clock seconds of the epoch. */
  seconds: number;
  /** The encoder + generator objective, gLoss + cycleWeight * cycleLoss (the field progress displays read). */
  loss: number;
  /** Always NaN: GAN training keeps no validation split (the field exists for code written for AutoEncoder's EpochInfo). */
  valLoss: number;
}

/** Per-call training hooks for `fit`; they override the constructor's. */
export interface GanFitHooks {
  onEpoch?: (e: GanEpochInfo) => void;
  signal?: AbortSignal;
}

export interface GanHistory {
  dLoss: Float32Array;
  gLoss: Float32Array;
  cycleLoss: Float32Array;
  dReal: Float32Array;
  dFake: Float32Array;
  varRatio: Float32Array;
  /** Warnings raised during training (the collapse warning), in order. */
  warnings: string[];
}

export interface GanDetectorOptions extends DetectorOptions {
  /** Size of the latent code z. Default 16. */
  latentSize?: number;
  /** Encoder hidden layer sizes (features -> ... -> latentSize). Default [64]. */
  encoderLayers?: number[];
  /** Generator hidden layer sizes (latentSize -> ... -> features). Default: the encoder's, reversed. */
  generatorLayers?: number[];
  /** Discriminator hidden layer sizes over the pair [x, z] (at least one; the last is the 'feature' layer). Default [128, 64]. */
  discriminatorLayers?: number[];
  /**
   * Add ALAD's cycle discriminator D_xx over [x, x'] (hidden layers: discriminatorLayers), trained to
   * tell (x, x) from (x, G(E(x))), with E and G trained to fool it; the 'feature' score then uses its
   * last hidden layer (ALAD's score). Default false.
   */
  cycleDiscriminator?: boolean;
  /** Hidden activation of all the networks. Default 'leakyRelu' (slope 0.2). */
  activation?: Activation;
  /** Passes over the data. Default 50. */
  epochs?: number;
  /** Mini-batch size. Default 64. */
  batchSize?: number;
  /** Adam learning rate of the encoder and generator. Default 1e-4. */
  generatorLearningRate?: number;
  /** Adam learning rate of the discriminator (two time-scale update rule: faster than the generator's). Default 4e-4. */
  discriminatorLearningRate?: number;
  /** Adam beta1 (0.5 is the usual GAN choice: less momentum against a moving opponent). Default 0.5. */
  beta1?: number;
  /** One-sided label smoothing: the discriminator's target for real pairs, [0.5, 1]. Default 0.9. */
  realLabel?: number;
  /** Weight of the explicit cycle loss ||x - G(E(x))||^2 added to the encoder+generator objective (ALICE); 0 = pure BiGAN. Default 1. */
  cycleWeight?: number;
  /** Spectral normalization of every discriminator layer (one seeded power iteration per step). Default true. */
  spectralNorm?: boolean;
  /** Polyak averaging: the encoder and generator end as the mean of their weights over the second half of training (damps the last iterate's oscillation). Default true. */
  averageWeights?: boolean;
  /** Score: 'reconstruction' ||x - G(E(x))||^2, 'discriminator' (-logit D(x, E(x))), 'feature' (L1 distance in D's last hidden layer), 'mix'. Default 'reconstruction'. */
  score?: GanScore;
  /** Weights of the 'mix' score over the components, each divided by its training-score std. Default { reconstruction: 1, discriminator: 0, feature: 1 } (the rejection score ranks anomalies low on the benchmark data; see docs/gan.md). */
  scoreWeights?: { reconstruction?: number; discriminator?: number; feature?: number };
  /** Warn when the final epochs' varRatio falls below this (mode collapse). Default 0.1; 0 disables. */
  collapseThreshold?: number;
  /** Called on the main thread after every epoch; throwing stops training and rejects `fit`. Not saved. */
  onEpoch?: (e: GanEpochInfo) => void;
  /** Cancels training; `fit` then rejects with an AbortError. Not saved. */
  signal?: AbortSignal;
  /** Receives the collapse warning. Default console.warn. Not saved. */
  logger?: (line: string) => void;
}

const OWNER = 'GanDetector';
const OPTIONS = [
  'latentSize', 'encoderLayers', 'generatorLayers', 'discriminatorLayers', 'activation', 'epochs', 'batchSize', 'generatorLearningRate',
  'discriminatorLearningRate', 'beta1', 'realLabel', 'cycleWeight', 'cycleDiscriminator', 'spectralNorm', 'averageWeights', 'score', 'scoreWeights', 'collapseThreshold',
] as const;
const EPOCH_FIELDS = 8;

function checkFunction(name: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'function') throw new OptionError(`Expected a function for ${OWNER} option '${name}' but received ${typeof v}`);
}

function checkHooks(h: GanFitHooks): void {
  checkFunction('onEpoch', h.onEpoch);
  const s = h.signal as unknown as { aborted?: unknown; addEventListener?: unknown } | undefined;
  if (s !== undefined && (s === null || typeof s !== 'object' || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function'))
    throw new OptionError(`Expected an AbortSignal for ${OWNER} option 'signal'`);
}

/**
 * Bidirectional GAN (BiGAN / ALAD family, Donahue et al. 2017; Zenati et al. 2018) for vector data:
 * encoder E, generator G and a joint discriminator D(x, z) trained adversarially on standardized
 * normal rows, with spectral normalization on D, one-sided label smoothing, separate learning
 * rates (TTUR), Adam beta1 0.5 and an explicit cycle loss that keeps G(E(x)) close to x. Scoring is
 * one native forward pass; explain gives the per-feature reconstruction errors.
 */
export class GanDetector extends Detector<GanDetectorOptions> {
  readonly type = 'GanDetector';
  private readonly latent: number;
  private readonly encoderSizes: number[];
  private readonly generatorSizes: number[];
  private readonly discriminatorSizes: number[];
  private readonly act: Activation;
  private readonly withCycleD: boolean;
  private readonly trainOpts: Record<string, number>;
  private readonly scoreKind: GanScore;
  private readonly mixWeights: [number, number, number];
  private readonly collapseThreshold: number;
  private readonly onEpoch?: (e: GanEpochInfo) => void;
  private readonly signal?: AbortSignal;
  private readonly logger: (line: string) => void;
  private net?: GanNet;
  private packed?: PackedGan;
  /** Training std of each score component (reconstruction, discriminator, feature). */
  private scales: Float32Array = new Float32Array([1, 1, 1]);
  private weights: Float32Array = new Float32Array(3);
  private historyValue?: GanHistory;
  private callHooks?: GanFitHooks;

  constructor(options?: GanDetectorOptions) {
    const { onEpoch, signal, logger, ...rest } = (options ?? {}) as GanDetectorOptions;
    super(OWNER, options === undefined ? undefined : rest, OPTIONS);
    checkHooks({ onEpoch, signal });
    checkFunction('logger', logger);
    this.onEpoch = onEpoch;
    this.signal = signal;
    this.logger = logger ?? ((line) => console.warn(line));
    const o = this.options;
    this.latent = optInt(OWNER, 'latentSize', o.latentSize, 16, 1, 65536);
    this.encoderSizes = optLayers(OWNER, 'encoderLayers', o.encoderLayers, [64], true);
    this.generatorSizes = optLayers(OWNER, 'generatorLayers', o.generatorLayers, [...this.encoderSizes].reverse(), true);
    this.discriminatorSizes = optLayers(OWNER, 'discriminatorLayers', o.discriminatorLayers, [128, 64]);
    this.act = optEnum(OWNER, 'activation', o.activation, ACTIVATIONS, 'leakyRelu');
    this.withCycleD = optBool(OWNER, 'cycleDiscriminator', o.cycleDiscriminator, false);
    this.trainOpts = {
      epochs: optInt(OWNER, 'epochs', o.epochs, 50, 1, 1e6),
      batchSize: optInt(OWNER, 'batchSize', o.batchSize, 64, 1, 1 << 20),
      generatorLearningRate: optNumber(OWNER, 'generatorLearningRate', o.generatorLearningRate, 1e-4, 0, 10),
      discriminatorLearningRate: optNumber(OWNER, 'discriminatorLearningRate', o.discriminatorLearningRate, 4e-4, 0, 10),
      beta1: optNumber(OWNER, 'beta1', o.beta1, 0.5, 0, 0.999),
      beta2: 0.999,
      realLabel: optNumber(OWNER, 'realLabel', o.realLabel, 0.9, 0.5, 1),
      cycleWeight: optNumber(OWNER, 'cycleWeight', o.cycleWeight, 1, 0, 1e6),
      spectralNorm: optBool(OWNER, 'spectralNorm', o.spectralNorm, true) ? 1 : 0,
      averageWeights: optBool(OWNER, 'averageWeights', o.averageWeights, true) ? 1 : 0,
      collapseSamples: 512,
      seed: this.seed,
    };
    this.scoreKind = optEnum(OWNER, 'score', o.score, GAN_SCORES, 'reconstruction');
    const w = o.scoreWeights;
    if (w !== undefined && (w === null || typeof w !== 'object' || Array.isArray(w)))
      throw new OptionError(`Expected an object { reconstruction, discriminator, feature } for ${OWNER} option 'scoreWeights'`);
    if (w) for (const key of Object.keys(w)) if (!['reconstruction', 'discriminator', 'feature'].includes(key)) throw new OptionError(`Unknown key '${key}' in ${OWNER} option 'scoreWeights' (known: reconstruction, discriminator, feature)`);
    this.mixWeights = [
      optNumber(OWNER, 'scoreWeights.reconstruction', w?.reconstruction, 1, 0, 1e6),
      optNumber(OWNER, 'scoreWeights.discriminator', w?.discriminator, 0, 0, 1e6),
      optNumber(OWNER, 'scoreWeights.feature', w?.feature, 1, 0, 1e6),
    ];
    if (this.scoreKind === 'mix' && this.mixWeights.every((v) => v === 0)) throw new OptionError(`${OWNER} option 'scoreWeights' needs a weight above 0 for score 'mix'`);
    this.collapseThreshold = optNumber(OWNER, 'collapseThreshold', o.collapseThreshold, 0.1, 0, 1);
  }

  /** The score in use. */
  get scoreType(): GanScore {
    return this.scoreKind;
  }

  /** The weights of the 'mix' score (before division by the component scales). */
  get scoreWeights(): { reconstruction: number; discriminator: number; feature: number } {
    const [reconstruction, discriminator, feature] = this.mixWeights;
    return { reconstruction, discriminator, feature };
  }

  /** Training curves and warnings of the last `fit` (undefined after `load`). */
  get history(): GanHistory | undefined {
    return this.historyValue;
  }

  /** The trained networks (standardization, encoder, generator, discriminator). */
  get network(): GanNet {
    this.ensureFitted();
    return this.net!;
  }

  /** Training-score std of the reconstruction, discriminator and feature scores (the 'mix' divides by them). */
  get componentScales(): Float32Array {
    this.ensureFitted();
    return Float32Array.from(this.scales);
  }

  /** ONNX model of the scoring path (input `input` [N, d]; outputs `score` [N], `reconstruction` [N, d]); see ganToOnnx. */
  toOnnx(opts?: GanOnnxOptions): Uint8Array {
    this.ensureFitted();
    const o = opts ?? {};
    return ganToOnnx(this.net!, this.scoreKind, this.mixFor(o.score ?? this.scoreKind), o);
  }

  protected get minFitRows(): number {
    return 2;
  }

  /** Fits off the main thread; `hooks` (onEpoch, signal) override the constructor's for this call. */
  async fit(X: MatrixLike, hooks?: GanFitHooks): Promise<this> {
    if (hooks !== undefined && (hooks === null || typeof hooks !== 'object')) throw new OptionError(`${OWNER}.fit hooks must be an object with onEpoch and/or signal`);
    if (hooks) checkHooks(hooks);
    this.callHooks = hooks;
    try {
      return await super.fit(X);
    } finally {
      this.callHooks = undefined;
    }
  }

  private shape(features: number): GanShape {
    const hidden = (inputs: number, outputs: number): LayerShape => ({ inputs, outputs, activation: this.act });
    const stack = (from: number, sizes: number[], to: number): LayerShape[] => {
      const out: LayerShape[] = [];
      let w = from;
      for (const k of sizes) {
        out.push(hidden(w, k));
        w = k;
      }
      out.push({ inputs: w, outputs: to, activation: 'identity' });
      return out;
    };
    return {
      features,
      latent: this.latent,
      encoder: stack(features, this.encoderSizes, this.latent),
      generator: stack(this.latent, this.generatorSizes, features),
      discriminator: stack(features + this.latent, this.discriminatorSizes, 1),
      cycleDiscriminator: this.withCycleD ? stack(2 * features, this.discriminatorSizes, 1) : [],
    };
  }

  /** Native weights for a score kind: the mix divides each component by its training std. */
  private mixFor(kind: GanScore): Float32Array {
    if (kind !== 'mix') return Float32Array.from([0, 1, 2].map((i) => (GAN_SCORES[i] === kind ? 1 : 0)));
    return Float32Array.from(this.mixWeights.map((w, i) => w / this.scales[i]));
  }

  protected async fitMatrix(m: Matrix): Promise<Float32Array> {
    const shape = this.shape(m.cols);
    const signal = this.callHooks?.signal ?? this.signal;
    const onEpoch = this.callHooks?.onEpoch ?? this.onEpoch;
    const cancelled = () => new AbortError(`${OWNER} training was cancelled by its AbortSignal`, { cause: signal?.reason });
    if (signal?.aborted) throw cancelled();
    const flag = new Int32Array(1);
    const onAbort = () => {
      flag[0] = 1;
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    watchExit(flag);
    const warnings: string[] = [];
    const threshold = this.collapseThreshold;
    const checkFrom = Math.ceil(this.trainOpts.epochs / 2);
    let userError: unknown;
    let failed = false;
    const warnCollapse = (e: GanEpochInfo) => {
      if (warnings.length > 0 || threshold <= 0 || e.epoch < checkFrom || !(e.varRatio < threshold)) return;
      const line =
        `${OWNER}: possible mode collapse at epoch ${e.epoch}: generated samples have ${(e.varRatio * 100).toFixed(1)}% of the data's per-feature variance ` +
        `(threshold ${(threshold * 100).toFixed(0)}%). Try a lower discriminatorLearningRate or a higher generatorLearningRate, keep spectralNorm on, ` +
        `a larger latentSize or batchSize, or more epochs; score 'reconstruction' is the least affected.`;
      warnings.push(line);
      this.logger(line);
    };
    const toInfo = (a: Float64Array, o = 0): GanEpochInfo => ({
      epoch: a[o],
      dLoss: a[o + 1],
      gLoss: a[o + 2],
      cycleLoss: a[o + 3],
      dReal: a[o + 4],
      dFake: a[o + 5],
      varRatio: a[o + 6],
      seconds: a[o + 7],
      loss: a[o + 2] + this.trainOpts.cycleWeight * a[o + 3],
      valLoss: NaN,
    });
    const cb = (a: Float64Array) => {
      if (failed) return;
      const e = toInfo(a);
      try {
        warnCollapse(e);
        onEpoch?.(e);
      } catch (err) {
        failed = true;
        userError = err;
        flag[0] = 1;
      }
    };
    let res: { params: Float32Array; epochs: Float64Array };
    try {
      res = await native.ganTrain(ganPlan(shape), m.data, m.rows, this.trainOpts, cb, flag);
    } catch (e) {
      if (failed) throw userError;
      if (flag[0] && /aborted/.test((e as Error).message)) throw cancelled();
      throw new NadirError(`${OWNER} training failed: ${(e as Error).message}`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      unwatchExit(flag);
    }
    if (failed) throw userError;
    const n = res.epochs.length / EPOCH_FIELDS;
    const col = (k: number) => Float32Array.from({ length: n }, (_, i) => res.epochs[i * EPOCH_FIELDS + k]);
    this.historyValue = { dLoss: col(1), gLoss: col(2), cycleLoss: col(3), dReal: col(4), dFake: col(5), varRatio: col(6), warnings };
    this.setNet(ganFromBlob(shape, res.params));
    // Training components give each score's scale (for 'mix') and the training scores.
    const comps = new Float32Array(m.rows * 3);
    const scores = new Float32Array(m.rows);
    await native.ganScoreAsync(this.packed!.plan, this.packed!.blob, m.data, m.rows, 0, this.weights, scores, null, comps, resolveThreads(this.threadsValue));
    this.scales = componentStd(comps, m.rows);
    this.weights = this.mixFor(this.scoreKind);
    for (let i = 0; i < m.rows; i++) scores[i] = this.weights[0] * comps[i * 3] + this.weights[1] * comps[i * 3 + 1] + this.weights[2] * comps[i * 3 + 2];
    return scores;
  }

  private setNet(net: GanNet): void {
    this.packed = packGan(net);
    this.net = net;
  }

  // Every score that includes the reconstruction term contains (z_j - zhat_j)^2 for each input z_j,
  // so a NaN or +-Inf input always shows in its score (the discriminator alone may hide it behind a ReLU).
  protected get nonFiniteInputShowsInScore(): boolean {
    return this.scoreKind === 'reconstruction' || (this.scoreKind === 'mix' && this.mixWeights[0] > 0);
  }

  protected async scoreMatrix(m: Matrix): Promise<Float32Array> {
    const p = this.packed!;
    const out = new Float32Array(m.rows);
    await native.ganScoreAsync(p.plan, p.blob, m.data, m.rows, SCORE_CODE[this.scoreKind], this.weights, out, null, null, resolveThreads(this.threadsValue));
    return out;
  }

  protected scoreMatrixSync(m: Matrix): Float32Array {
    const p = this.packed!;
    const out = new Float32Array(m.rows);
    native.ganScore(p.plan, p.blob, m.data, m.rows, SCORE_CODE[this.scoreKind], this.weights, out, null, null, 1);
    return out;
  }

  /** Per-feature squared reconstruction errors (z_j - G(E(z))_j)^2 in standardized units. */
  protected async explainMatrix(m: Matrix): Promise<Float32Array> {
    const p = this.packed!;
    const contrib = new Float32Array(m.rows * m.cols);
    await native.ganScoreAsync(p.plan, p.blob, m.data, m.rows, 0, this.weights, new Float32Array(m.rows), contrib, null, resolveThreads(this.threadsValue));
    return contrib;
  }

  /** The three scores of each row: a rows x 3 Matrix (reconstruction, discriminator, feature). */
  async scoreComponents(X: MatrixLike): Promise<Matrix> {
    const m = this.prepareInput(X);
    const p = this.packed!;
    const comps = new Float32Array(m.rows * 3);
    if (m.rows > 0) await native.ganScoreAsync(p.plan, p.blob, m.data, m.rows, 0, this.weights, new Float32Array(m.rows), null, comps, resolveThreads(this.threadsValue));
    return new Matrix(comps, m.rows, 3);
  }

  protected exportState(): DetectorState {
    const h = this.historyValue;
    const arrays: Record<string, Float32Array> = { ...ganArrays(this.net!), 'gan.scales': this.scales };
    if (h) for (const k of ['dLoss', 'gLoss', 'cycleLoss', 'dReal', 'dFake', 'varRatio'] as const) arrays[`history.${k}`] = h[k];
    return { meta: { network: ganMeta(this.net!), ...(h ? { warnings: h.warnings } : {}) }, arrays };
  }

  protected importState(state: DetectorState): void {
    const net = ganFromState(state.meta.network, state.arrays);
    if (net.mean.length !== this.nFeatures) throw new NadirError(`the GAN takes ${net.mean.length} features but the model was fitted on ${this.nFeatures}`);
    const scales = state.arrays['gan.scales'];
    if (!(scales instanceof Float32Array) || scales.length !== 3) throw new NadirError("array 'gan.scales' is missing or not 3 floats");
    this.setNet(net);
    this.scales = scales;
    this.weights = this.mixFor(this.scoreKind);
    const a = state.arrays;
    const h = (k: string) => a[`history.${k}`];
    this.historyValue =
      h('dLoss') instanceof Float32Array
        ? {
            dLoss: h('dLoss') as Float32Array,
            gLoss: h('gLoss') as Float32Array,
            cycleLoss: h('cycleLoss') as Float32Array,
            dReal: h('dReal') as Float32Array,
            dFake: h('dFake') as Float32Array,
            varRatio: h('varRatio') as Float32Array,
            warnings: Array.isArray(state.meta.warnings) ? (state.meta.warnings as string[]) : [],
          }
        : undefined;
  }
}

/** Per-column population std of a rows x 3 matrix (1 where a column is constant). */
function componentStd(c: Float32Array, rows: number): Float32Array {
  const out = new Float32Array(3);
  for (let k = 0; k < 3; k++) {
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < rows; i++) s += c[i * 3 + k];
    const mean = s / rows;
    for (let i = 0; i < rows; i++) s2 += (c[i * 3 + k] - mean) ** 2;
    const sd = Math.sqrt(s2 / rows);
    out[k] = sd > 0 && Number.isFinite(sd) ? sd : 1;
  }
  return out;
}

registerDetector('GanDetector', (o) => new GanDetector(o));
