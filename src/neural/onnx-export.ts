// Exports a nadir Network as an ONNX model of the whole scoring path (raw features in, score and
// reconstruction out), written with our own protobuf encoder. Only standard ai.onnx operators of
// opset 13 (default: any ONNX runtime from 2021 on runs it) up to 21.
import { DataError, OptionError } from '../errors';
import { checkOptionNames, optBool, optInt } from '../options';
import { ProtoWriter } from './protobuf';
import type { DenseLayer, Network } from './network';

export interface OnnxExportOptions {
  /** ai.onnx opset version written in the model, >= 13. Default 13. */
  opset?: number;
  /** Graph name. Default 'nadir_autoencoder' or 'nadir_vae'. */
  graphName?: string;
  /** Free text stored as the model's doc_string. */
  docString?: string;
  /** Include the `reconstruction` output. Default true; false gives a leaner scoring-only model (ONNX Runtime scored ~14% more rows/s without it here, even when only `score` was fetched). */
  reconstruction?: boolean;
}

// onnx.proto enums and field numbers used below.
const FLOAT = 1;
const INT64 = 7;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;
// The IR version of the ONNX release that introduced each opset (onnx/docs/Versioning.md).
export const IR_FOR_OPSET: Record<number, number> = { 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };
export const MAX_OPSET = 21;

type Attr = { name: string; f?: number; i?: number; ints?: number[] };

/** Collects nodes and initializers; hands out unique value names. */
export class GraphBuilder {
  constructor(readonly opset: number) {}
  nodes: ProtoWriter[] = [];
  initializers: ProtoWriter[] = [];
  private counter = 0;
  // A Float32Array given twice with the same dims becomes one initializer (weights shared by two passes).
  private shared = new Map<Float32Array, Map<string, string>>();

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  node(op: string, inputs: string[], attrs: Attr[] = [], output?: string): string {
    const out = output ?? this.fresh(op.toLowerCase());
    const n = new ProtoWriter();
    for (const i of inputs) n.string(1, i);
    n.string(2, out);
    n.string(3, `${op}_${this.counter++}`);
    n.string(4, op);
    for (const a of attrs) {
      const w = new ProtoWriter().string(1, a.name);
      if (a.f !== undefined) w.float(2, a.f).int(20, ATTR_FLOAT);
      else if (a.i !== undefined) w.int(3, a.i).int(20, ATTR_INT);
      else if (a.ints !== undefined) w.packedInts(8, a.ints).int(20, ATTR_INTS);
      n.message(5, w);
    }
    this.nodes.push(n);
    return out;
  }

  /** A float32 initializer; dims [] makes a scalar. */
  floats(prefix: string, values: ArrayLike<number>, dims: number[]): string {
    const key = dims.join('x');
    const seen = values instanceof Float32Array ? this.shared.get(values)?.get(key) : undefined;
    if (seen) return seen;
    const name = this.fresh(prefix);
    if (values instanceof Float32Array) {
      if (!this.shared.has(values)) this.shared.set(values, new Map());
      this.shared.get(values)!.set(key, name);
    }
    const f32 = Float32Array.from(values as ArrayLike<number>);
    // raw_data is little-endian by definition; copy byte-wise so it holds on any host.
    const raw = new Uint8Array(f32.length * 4);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < f32.length; i++) dv.setFloat32(i * 4, f32[i], true);
    const t = new ProtoWriter();
    if (dims.length) t.packedInts(1, dims);
    t.int(2, FLOAT).string(8, name).bytes(9, raw);
    this.initializers.push(t);
    return name;
  }

  /** Reduce over `axes`; from opset 18 every Reduce* takes its axes as an input (ReduceSum from 13). */
  reduce(op: string, x: string, axes: number[], keepdims: boolean, output?: string): string {
    const keep = { name: 'keepdims', i: keepdims ? 1 : 0 };
    if (op === 'ReduceSum' || this.opset >= 18) return this.node(op, [x, this.int64s('axes', axes)], [keep], output);
    return this.node(op, [x], [{ name: 'axes', ints: axes }, keep], output);
  }

  int64s(prefix: string, values: number[]): string {
    const name = this.fresh(prefix);
    const raw = new Uint8Array(values.length * 8);
    const dv = new DataView(raw.buffer);
    values.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
    const t = new ProtoWriter().packedInts(1, [values.length]).int(2, INT64).string(8, name).bytes(9, raw);
    this.initializers.push(t);
    return name;
  }
}

export function valueInfo(name: string, dims: (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensor = new ProtoWriter().int(1, FLOAT).message(2, shape);
  const type = new ProtoWriter().message(1, tensor);
  return new ProtoWriter().string(1, name).message(2, type);
}

export function checkArray(where: string, a: unknown, n: number): Float32Array {
  if (!(a instanceof Float32Array)) throw new DataError(`${where} must be a Float32Array`);
  if (a.length !== n) throw new DataError(`${where} has ${a.length} values, expected ${n}`);
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) throw new DataError(`${where}[${i}] is ${a[i]}, not a finite number`);
  return a;
}

function checkLayer(where: string, l: DenseLayer, inputs: number): void {
  if (!l || typeof l !== 'object') throw new DataError(`${where} is missing`);
  if (l.inputs !== inputs) throw new DataError(`${where} takes ${l.inputs} inputs but receives ${inputs}`);
  if (!Number.isInteger(l.outputs) || l.outputs <= 0) throw new DataError(`${where} has an invalid output count ${l.outputs}`);
  checkArray(`${where}.weight`, l.weight, l.outputs * l.inputs);
  checkArray(`${where}.bias`, l.bias, l.outputs);
  if (!['relu', 'tanh', 'sigmoid', 'identity', 'leakyRelu'].includes(l.activation)) throw new DataError(`${where} has an unknown activation '${l.activation}'`);
  if (l.norm) {
    checkArray(`${where}.norm.gamma`, l.norm.gamma, l.outputs);
    checkArray(`${where}.norm.beta`, l.norm.beta, l.outputs);
    if (!(l.norm.epsilon >= 0) || !Number.isFinite(l.norm.epsilon)) throw new DataError(`${where}.norm.epsilon must be a finite number >= 0`);
  }
}

/** Checks a chain of layers and returns its output width. */
export function checkChain(where: string, layers: DenseLayer[], inputs: number): number {
  if (!Array.isArray(layers)) throw new DataError(`${where} must be an array of layers`);
  layers.forEach((l, k) => {
    checkLayer(`${where}[${k}]`, l, inputs);
    inputs = l.outputs;
  });
  return inputs;
}

/**
 * Layer normalization over the last axis, decomposed (LayerNormalization only exists from opset 17):
 * (y - mean) / sqrt(var + eps) * gamma + beta, with the biased variance.
 */
export function layerNorm(g: GraphBuilder, y: string, gamma: Float32Array, beta: Float32Array, epsilon: number, tag: string): string {
  const mean = g.reduce('ReduceMean', y, [-1], true);
  const c = g.node('Sub', [y, mean]);
  const v = g.reduce('ReduceMean', g.node('Mul', [c, c]), [-1], true);
  const sd = g.node('Sqrt', [g.node('Add', [v, g.floats(`${tag}_eps`, [epsilon], [])])]);
  const n = g.node('Div', [c, sd]);
  return g.node('Add', [g.node('Mul', [n, g.floats(`${tag}_gamma`, gamma, [gamma.length])]), g.floats(`${tag}_beta`, beta, [beta.length])]);
}

/** y = act(norm(x W^T + b)); Gemm with transB because W is outputs x inputs. */
export function dense(g: GraphBuilder, x: string, l: DenseLayer, tag: string): string {
  const w = g.floats(`${tag}_weight`, l.weight, [l.outputs, l.inputs]);
  const b = g.floats(`${tag}_bias`, l.bias, [l.outputs]);
  let y = g.node('Gemm', [x, w, b], [{ name: 'transB', i: 1 }]);
  if (l.norm) y = layerNorm(g, y, l.norm.gamma, l.norm.beta, l.norm.epsilon, tag);
  switch (l.activation) {
    case 'relu': return g.node('Relu', [y]);
    case 'tanh': return g.node('Tanh', [y]);
    case 'sigmoid': return g.node('Sigmoid', [y]);
    case 'leakyRelu': return g.node('LeakyRelu', [y], [{ name: 'alpha', f: 0.2 }]);
    default: return y;
  }
}

export function chain(g: GraphBuilder, x: string, layers: DenseLayer[], tag: string): string {
  layers.forEach((l, k) => { x = dense(g, x, l, `${tag}${k}`); });
  return x;
}

/** The layer reading c = x - mean instead of z = c / std: input column j divided by std_j. */
function scaleInputs(l: DenseLayer, std: Float32Array): DenseLayer {
  const weight = new Float32Array(l.weight.length);
  for (let o = 0; o < l.outputs; o++) for (let j = 0; j < l.inputs; j++) weight[o * l.inputs + j] = l.weight[o * l.inputs + j] / std[j];
  return { ...l, weight };
}

/** The layer emitting std * y (y its output): rows scaled by std; only without activation or norm. */
function scaleOutputs(l: DenseLayer, std: Float32Array): DenseLayer {
  const weight = new Float32Array(l.weight.length);
  const bias = new Float32Array(l.outputs);
  for (let o = 0; o < l.outputs; o++) {
    for (let j = 0; j < l.inputs; j++) weight[o * l.inputs + j] = l.weight[o * l.inputs + j] * std[o];
    bias[o] = l.bias[o] * std[o];
  }
  return { ...l, weight, bias };
}

/**
 * A chain whose first layer reads c = x - mean (when `inStd`: it stands for c / inStd) and whose
 * output is multiplied by `outStd` (when given), folded into the last layer where it is linear.
 */
function foldedChain(g: GraphBuilder, x: string, layers: DenseLayer[], inStd: Float32Array | null, outStd: Float32Array | null, tag: string): string {
  if (layers.length === 0) return outStd ? g.node('Mul', [x, g.floats('std', outStd, [outStd.length])]) : x;
  const ls = layers.slice();
  if (inStd) ls[0] = scaleInputs(ls[0], inStd);
  const last = ls.length - 1;
  const foldOut = outStd !== null && ls[last].activation === 'identity' && !ls[last].norm;
  if (foldOut) ls[last] = scaleOutputs(ls[last], outStd);
  const y = chain(g, x, ls, tag);
  return outStd && !foldOut ? g.node('Mul', [y, g.floats('std', outStd, [outStd.length])]) : y;
}

/**
 * The ONNX model (bytes of a ModelProto) of a network's whole scoring path:
 * input `input` float32 [N, d] raw features -> z = (x - mean) / std -> the network ->
 * outputs `score` float32 [N] (sum of squared standardized errors, plus beta * KL for a VAE,
 * decoding the mean) and (unless `reconstruction: false`) `reconstruction` float32 [N, d] in input units.
 */
export function networkToOnnx(net: Network, opts: OnnxExportOptions = {}): Uint8Array {
  const { opset } = exportOptions('networkToOnnx', opts, ['reconstruction']);
  const withReconstruction = optBool('networkToOnnx', 'reconstruction', opts.reconstruction, true);
  if (!net || (net.kind !== 'autoencoder' && net.kind !== 'vae')) throw new DataError(`Expected a Network of kind 'autoencoder' or 'vae' but received ${net && (net as { kind?: unknown }).kind}`);
  if (!(net.mean instanceof Float32Array) || net.mean.length === 0) throw new DataError('network.mean must be a non-empty Float32Array');
  const d = net.mean.length;
  checkArray('network.mean', net.mean, d);
  checkArray('network.std', net.std, d);
  for (let j = 0; j < d; j++) if (!(net.std[j] > 0)) throw new DataError(`network.std[${j}] is ${net.std[j]}; standard deviations must be > 0`);

  // Standardization is folded into the weights, because ONNX Runtime's broadcasting element-wise
  // ops cost as much as a dense layer here: with c = x - mean, the first layer reads c with its
  // input columns divided by std (W z = (W / std) c), and a last layer without activation or norm
  // emits u = std * zhat (rows scaled by std); otherwise u = zhat * std. Then std * (z - zhat) =
  // c - u, and the score sum_j (z_j - zhat_j)^2 = sum_j (c_j - u_j)^2 / std_j^2 is a same-shape
  // square and a product with the column of 1 / std^2. Same value as the plain form up to rounding.
  const g = new GraphBuilder(opset);
  const mean = g.floats('mean', net.mean, [d]);
  const c = g.node('Sub', ['input', mean]);
  let u: string;
  let kl: string | undefined;
  if (net.kind === 'autoencoder') {
    if (!Array.isArray(net.layers) || net.layers.length === 0) throw new DataError('network.layers must hold at least one layer');
    const out = checkChain('network.layers', net.layers, d);
    if (out !== d) throw new DataError(`the last layer has ${out} outputs but the network's input has ${d} features`);
    u = foldedChain(g, c, net.layers, net.std, net.std, 'layer');
  } else {
    const h = checkChain('network.encoder', net.encoder, d);
    checkLayer('network.mu', net.mu, h);
    checkLayer('network.logVar', net.logVar, h);
    if (net.logVar.outputs !== net.mu.outputs) throw new DataError(`network.logVar has ${net.logVar.outputs} outputs but network.mu has ${net.mu.outputs}`);
    const out = checkChain('network.decoder', net.decoder, net.mu.outputs);
    if (out !== d) throw new DataError(`the decoder has ${out} outputs but the network's input has ${d} features`);
    if (typeof net.beta !== 'number' || !Number.isFinite(net.beta) || net.beta < 0) throw new DataError(`network.beta must be a finite number >= 0 but is ${net.beta}`);
    // Without encoder layers the heads read c themselves and take the division by std.
    const direct = net.encoder.length === 0;
    const hid = direct ? c : foldedChain(g, c, net.encoder, net.std, null, 'encoder');
    const mu = dense(g, hid, direct ? scaleInputs(net.mu, net.std) : net.mu, 'mu');
    const lv = dense(g, hid, direct ? scaleInputs(net.logVar, net.std) : net.logVar, 'logvar');
    u = foldedChain(g, mu, net.decoder, null, net.std, 'decoder');
    // KL = -0.5 * sum(1 + logVar - mu^2 - exp(logVar)).
    const t = g.node('Sub', [g.node('Sub', [g.node('Add', [lv, g.floats('one', [1], [])]), g.node('Mul', [mu, mu])]), g.node('Exp', [lv])]);
    const s = g.reduce('ReduceSum', t, [1], false);
    kl = g.node('Mul', [s, g.floats('neg_half_beta', [-0.5 * net.beta], [])]);
  }
  const e = g.node('Sub', [c, u]);
  const invVar = Float32Array.from(net.std, (v) => 1 / (v * v));
  const perRow = g.node('MatMul', [g.node('Mul', [e, e]), g.floats('inv_var', invVar, [d, 1])]);
  const err = g.node('Reshape', [perRow, g.int64s('rows', [-1])], [], kl ? undefined : 'score');
  if (kl) g.node('Add', [err, kl], [], 'score');
  if (withReconstruction) g.node('Add', [u, mean], [], 'reconstruction');

  const outputs: ValueDims[] = [['score', ['N']]];
  if (withReconstruction) outputs.push(['reconstruction', ['N', d]]);
  return finishModel(g, opts.graphName ?? (net.kind === 'vae' ? 'nadir_vae' : 'nadir_autoencoder'), [['input', ['N', d]]], outputs, opts.docString);
}

type ValueDims = [string, (number | string)[]];

/** The ModelProto bytes of a built graph with the given float32 inputs and outputs. */
export function finishModel(g: GraphBuilder, name: string, inputs: ValueDims[], outputs: ValueDims[], docString?: string): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of g.nodes) graph.message(1, n);
  graph.string(2, name);
  for (const t of g.initializers) graph.message(5, t);
  for (const [n, dims] of inputs) graph.message(11, valueInfo(n, dims));
  for (const [n, dims] of outputs) graph.message(12, valueInfo(n, dims));
  const model = new ProtoWriter()
    .int(1, IR_FOR_OPSET[g.opset])
    .string(2, 'nadir')
    .string(3, producerVersion());
  if (docString) model.string(6, docString);
  model.message(7, graph).message(8, new ProtoWriter().string(1, '').int(2, g.opset));
  return model.finish();
}

/** Reads the options every exporter shares (opset, graphName, docString) plus `extra` names. */
export function exportOptions(owner: string, opts: object, extra: string[]): { opset: number; graphName?: string; docString?: string } {
  checkOptionNames(owner, opts, ['opset', 'graphName', 'docString', ...extra]);
  const o = opts as OnnxExportOptions;
  const opset = optInt(owner, 'opset', o.opset, 13, 13, MAX_OPSET);
  if (o.graphName !== undefined && typeof o.graphName !== 'string') throw new OptionError(`Expected a string for ${owner} option 'graphName' but received ${typeof o.graphName}`);
  if (o.docString !== undefined && typeof o.docString !== 'string') throw new OptionError(`Expected a string for ${owner} option 'docString' but received ${typeof o.docString}`);
  return { opset, graphName: o.graphName, docString: o.docString };
}

let version: string | undefined;
export function producerVersion(): string {
  if (version === undefined) {
    try {
      version = String(require('../../package.json').version);
    } catch {
      version = '';
    }
  }
  return version!;
}
