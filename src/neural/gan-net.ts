// The fitted state of a GanDetector: encoder, generator and discriminator as dense layers, the
// native plan / packed blob they become (layout: native/include/nadir/gan.h), model-file arrays,
// and the ONNX export of the scoring path.
import { DataError, NadirError } from '../errors';
import { optBool, optEnum } from '../options';
import { Activation, DenseLayer } from './network';
import { ACTIVATIONS, ACT_CODE, packLayer } from './native-net';
import { GraphBuilder, chain, checkArray, checkChain, dense, exportOptions, finishModel } from './onnx-export';

/**
 * Inputs are standardized z = (x - mean) / std. encoder: z -> latent code; generator: code -> zhat;
 * discriminator: [z, code] -> ... -> 1 logit of "real" (spectral normalization folded into its
 * weights). cycleDiscriminator (ALAD's D_xx; empty when not used): [z, z'] -> ... -> 1 logit that
 * (z, z) is real rather than (z, G(E(z))); when present, its last hidden layer is the feature layer
 * of the 'feature' score, else D's is.
 */
export interface GanNet {
  kind: 'gan';
  mean: Float32Array;
  std: Float32Array;
  encoder: DenseLayer[];
  generator: DenseLayer[];
  discriminator: DenseLayer[];
  cycleDiscriminator: DenseLayer[];
}

export type GanScore = 'reconstruction' | 'discriminator' | 'feature' | 'mix';
export const GAN_SCORES: readonly GanScore[] = ['reconstruction', 'discriminator', 'feature', 'mix'];
export const SCORE_CODE: Record<GanScore, number> = { reconstruction: 0, discriminator: 1, feature: 2, mix: 3 };

export interface LayerShape {
  inputs: number;
  outputs: number;
  activation: Activation;
}

export interface GanShape {
  features: number;
  latent: number;
  encoder: LayerShape[];
  generator: LayerShape[];
  discriminator: LayerShape[];
  cycleDiscriminator: LayerShape[];
}

function all<L>(s: { encoder: L[]; generator: L[]; discriminator: L[]; cycleDiscriminator: L[] }): L[] {
  return [...s.encoder, ...s.generator, ...s.discriminator, ...s.cycleDiscriminator];
}

export function ganPlan(s: GanShape): Int32Array {
  const p = [1, s.features, s.latent, s.encoder.length, s.generator.length, s.discriminator.length, s.cycleDiscriminator.length];
  for (const l of all(s)) p.push(l.inputs, l.outputs, ACT_CODE[l.activation]);
  return Int32Array.from(p);
}

export function shapeOfGan(net: GanNet): GanShape {
  const m = (l: DenseLayer): LayerShape => ({ inputs: l.inputs, outputs: l.outputs, activation: l.activation });
  return { features: net.mean.length, latent: net.encoder[net.encoder.length - 1].outputs, encoder: net.encoder.map(m), generator: net.generator.map(m), discriminator: net.discriminator.map(m), cycleDiscriminator: net.cycleDiscriminator.map(m) };
}

/** Builds a GanNet from the trainer's blob (W in outputs x inputs layout). */
export function ganFromBlob(s: GanShape, blob: Float32Array): GanNet {
  const d = s.features;
  let off = 2 * d;
  const take = (l: LayerShape): DenseLayer => {
    const w = blob.slice(off, off + l.inputs * l.outputs);
    off += l.inputs * l.outputs;
    const b = blob.slice(off, off + l.outputs);
    off += l.outputs;
    return { inputs: l.inputs, outputs: l.outputs, activation: l.activation, weight: w, bias: b };
  };
  const net: GanNet = {
    kind: 'gan',
    mean: blob.slice(0, d),
    std: blob.slice(d, 2 * d),
    encoder: s.encoder.map(take),
    generator: s.generator.map(take),
    discriminator: s.discriminator.map(take),
    cycleDiscriminator: s.cycleDiscriminator.map(take),
  };
  if (off !== blob.length) throw new NadirError(`the GAN trainer returned ${blob.length} parameters, expected ${off}`);
  return net;
}

/** Throws a NadirError naming the first inconsistency of a GanNet. */
export function validateGan(net: GanNet): void {
  const bad = (m: string) => {
    throw new NadirError(`invalid GAN: ${m}`);
  };
  if (!net || net.kind !== 'gan') bad("kind must be 'gan'");
  if (!(net.mean instanceof Float32Array) || !(net.std instanceof Float32Array) || net.mean.length === 0 || net.std.length !== net.mean.length) bad('mean and std must be Float32Arrays of the feature count');
  for (const [name, ls] of [['encoder', net.encoder], ['generator', net.generator], ['discriminator', net.discriminator], ['cycleDiscriminator', net.cycleDiscriminator]] as const) {
    if (!Array.isArray(ls) || (ls.length === 0 && name !== 'cycleDiscriminator')) bad(`${name} needs at least one layer`);
    ls.forEach((l, i) => {
      if (!l || !Number.isInteger(l.inputs) || !Number.isInteger(l.outputs) || l.inputs < 1 || l.outputs < 1) bad(`${name} layer ${i} has invalid sizes`);
      if (!(l.weight instanceof Float32Array) || l.weight.length !== l.inputs * l.outputs) bad(`${name} layer ${i} weight must be a Float32Array of ${l.inputs * l.outputs}`);
      if (!(l.bias instanceof Float32Array) || l.bias.length !== l.outputs) bad(`${name} layer ${i} bias must be a Float32Array of ${l.outputs}`);
      if (!ACTIVATIONS.includes(l.activation)) bad(`${name} layer ${i} has unknown activation '${l.activation}'`);
    });
  }
  const d = net.mean.length;
  const chainW = (ls: DenseLayer[], w: number, what: string) => {
    for (const l of ls) {
      if (l.inputs !== w) bad(`a ${what} layer takes ${l.inputs} inputs but receives ${w}`);
      w = l.outputs;
    }
    return w;
  };
  const k = chainW(net.encoder, d, 'encoder');
  if (chainW(net.generator, k, 'generator') !== d) bad(`the generator must output ${d} features`);
  if (net.discriminator.length < 2) bad('the discriminator needs a hidden layer');
  if (chainW(net.discriminator, d + k, 'discriminator') !== 1) bad('the discriminator must output one logit');
  if (net.cycleDiscriminator.length === 1) bad('the cycle discriminator needs a hidden layer');
  if (net.cycleDiscriminator.length > 0 && chainW(net.cycleDiscriminator, 2 * d, 'cycle discriminator') !== 1) bad('the cycle discriminator must output one logit');
}

export interface PackedGan {
  plan: Int32Array;
  blob: Float32Array;
  features: number;
}

export function packGan(net: GanNet): PackedGan {
  validateGan(net);
  const d = net.mean.length;
  const layers = all(net);
  const size = 2 * d + layers.reduce((a, l) => a + l.inputs * l.outputs + l.outputs, 0);
  const blob = new Float32Array(size);
  blob.set(net.mean, 0);
  blob.set(net.std, d);
  let off = 2 * d;
  for (const l of layers) {
    packLayer(l, blob, off, off + l.inputs * l.outputs);
    off += l.inputs * l.outputs + l.outputs;
  }
  return { plan: ganPlan(shapeOfGan(net)), blob, features: d };
}

/** Model-file arrays: 'gan.mean', 'encoder.0.weight', 'discriminator.1.bias', ... */
export function ganArrays(net: GanNet): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = { 'gan.mean': net.mean, 'gan.std': net.std };
  for (const part of ['encoder', 'generator', 'discriminator', 'cycleDiscriminator'] as const)
    net[part].forEach((l, i) => {
      out[`${part}.${i}.weight`] = l.weight;
      out[`${part}.${i}.bias`] = l.bias;
    });
  return out;
}

export function ganMeta(net: GanNet): Record<string, unknown> {
  const m = (l: DenseLayer) => ({ inputs: l.inputs, outputs: l.outputs, activation: l.activation });
  return { kind: 'gan', encoder: net.encoder.map(m), generator: net.generator.map(m), discriminator: net.discriminator.map(m), cycleDiscriminator: net.cycleDiscriminator.map(m) };
}

export function ganFromState(meta: any, arrays: Record<string, unknown>): GanNet {
  const arr = (name: string): Float32Array => {
    const a = arrays[name];
    if (!(a instanceof Float32Array)) throw new NadirError(`array '${name}' is missing or not a Float32Array`);
    return a;
  };
  if (!meta || meta.kind !== 'gan') throw new NadirError('GAN description is missing');
  const part = (name: 'encoder' | 'generator' | 'discriminator' | 'cycleDiscriminator'): DenseLayer[] => {
    if (name === 'cycleDiscriminator' && meta[name] === undefined) return [];
    if (!Array.isArray(meta[name])) throw new NadirError(`GAN ${name} layers are missing`);
    return meta[name].map((m: LayerShape, i: number) => ({ inputs: m.inputs, outputs: m.outputs, activation: m.activation, weight: arr(`${name}.${i}.weight`), bias: arr(`${name}.${i}.bias`) }));
  };
  const net: GanNet = { kind: 'gan', mean: arr('gan.mean'), std: arr('gan.std'), encoder: part('encoder'), generator: part('generator'), discriminator: part('discriminator'), cycleDiscriminator: part('cycleDiscriminator') };
  validateGan(net);
  return net;
}

export interface GanOnnxOptions {
  /** ai.onnx opset version, >= 13. Default 13. */
  opset?: number;
  /** Graph name. Default 'nadir_gan'. */
  graphName?: string;
  docString?: string;
  /** Which score the `score` output computes. Default: the detector's. */
  score?: GanScore;
  /** Include the `reconstruction` output G(E(x)) in input units. Default true. */
  reconstruction?: boolean;
}

/**
 * The ONNX model of a GanNet's scoring path: input `input` float32 [N, d] raw rows -> standardize ->
 * E -> G -> outputs `score` [N] and (unless `reconstruction: false`) `reconstruction` [N, d] in input
 * units. Scores as the native forward pass: reconstruction = sum (z - G(E(z)))^2; discriminator =
 * -logit D(z, E(z)); feature = sum |f(z, E(z)) - f(G(E(z)), E(z))| over D's last hidden layer (or
 * sum |f(z, z) - f(z, G(E(z)))| over the cycle discriminator's); mix =
 * sum_k weights[k] * component k. D runs once on both pairs stacked (its weights stored once).
 */
export function ganToOnnx(net: GanNet, score: GanScore, weights: ArrayLike<number>, opts: GanOnnxOptions = {}): Uint8Array {
  const { opset, graphName, docString } = exportOptions('GanDetector.toOnnx', opts, ['score', 'reconstruction']);
  const kind = optEnum('GanDetector.toOnnx', 'score', opts.score, GAN_SCORES, score);
  const withReconstruction = optBool('GanDetector.toOnnx', 'reconstruction', opts.reconstruction, true);
  validateGan(net);
  const d = net.mean.length;
  checkArray('network.mean', net.mean, d);
  checkArray('network.std', net.std, d);
  for (let j = 0; j < d; j++) if (!(net.std[j] > 0)) throw new DataError(`network.std[${j}] is ${net.std[j]}; standard deviations must be > 0`);
  const k = checkChain('network.encoder', net.encoder, d);
  checkChain('network.generator', net.generator, k);
  checkChain('network.discriminator', net.discriminator, d + k);
  const cyc = net.cycleDiscriminator;
  if (cyc.length) checkChain('network.cycleDiscriminator', cyc, 2 * d);

  const g = new GraphBuilder(opset);
  const mean = g.floats('mean', net.mean, [d]);
  const std = g.floats('std', net.std, [d]);
  const z = g.node('Div', [g.node('Sub', ['input', mean]), std]);
  const code = chain(g, z, net.encoder, 'encoder');
  const zhat = chain(g, code, net.generator, 'generator');
  const terms: string[] = [];
  const w = (i: number) => (kind === 'mix' ? weights[i] : kind === GAN_SCORES[i] ? 1 : 0);
  if (w(0) !== 0) terms.push(g.reduce('ReduceSumSquare', g.node('Sub', [z, zhat]), [1], false));
  if (w(1) !== 0 || w(2) !== 0) {
    const n = g.node('Shape', [z]);
    const nRows = g.node('Gather', [n, g.int64s('zero', [0])]); // [N] as a 1-element tensor
    const slice = (x: string, from: string, to: string) => g.node('Slice', [x, from, to, g.int64s('axis0', [0])]);
    const twoN = g.node('Mul', [nRows, g.int64s('two', [2])]);
    const zeroI = g.int64s('start', [0]);
    const cat = (a: string, b: string, axis: number) => g.node('Concat', [a, b], [{ name: 'axis', i: axis }]);
    // Both pairs through a discriminator in one pass: rows [0, N) the real pairs, [N, 2N) the reconstructed ones.
    const hidden = w(1) !== 0 || !cyc.length ? chain(g, cat(cat(z, code, 1), cat(zhat, code, 1), 0), net.discriminator.slice(0, -1), 'discriminator') : '';
    if (w(1) !== 0) {
      const last = net.discriminator[net.discriminator.length - 1];
      const logit = dense(g, slice(hidden, zeroI, nRows), last, `discriminator${net.discriminator.length - 1}`);
      terms.push(g.reduce('ReduceSum', g.node('Neg', [logit]), [1], false));
    }
    if (w(2) !== 0) {
      const fh = cyc.length ? chain(g, cat(cat(z, z, 1), cat(z, zhat, 1), 0), cyc.slice(0, -1), 'cycle') : hidden;
      const diff = g.node('Sub', [slice(fh, zeroI, nRows), slice(fh, nRows, twoN)]);
      terms.push(g.reduce('ReduceSum', g.node('Abs', [diff]), [1], false));
    }
  }
  const ids = [0, 1, 2].filter((i) => w(i) !== 0);
  if (ids.length === 0) throw new DataError('every score weight is 0');
  const scaled = terms.map((t, q) => (w(ids[q]) === 1 ? t : g.node('Mul', [t, g.floats('weight', [w(ids[q])], [])])));
  let total = scaled[0];
  for (let q = 1; q < scaled.length; q++) total = g.node('Add', [total, scaled[q]], [], q === scaled.length - 1 ? 'score' : undefined);
  if (scaled.length === 1) g.node('Identity', [total], [], 'score');
  if (withReconstruction) g.node('Add', [g.node('Mul', [zhat, std]), mean], [], 'reconstruction');
  const outputs: [string, (number | string)[]][] = [['score', ['N']]];
  if (withReconstruction) outputs.push(['reconstruction', ['N', d]]);
  return finishModel(g, graphName ?? 'nadir_gan', [['input', ['N', d]]], outputs, docString);
}
