// ONNX export of the sequence forecasters, built on onnx-export.ts's GraphBuilder: the LSTM with
// ONNX's LSTM operator, the Transformer from standard operators (MatMul, Softmax, Transpose, ...).
import { checkOptionNames, optInt } from '../options';
import { GraphBuilder, MAX_OPSET, finishModel, layerNorm } from '../neural/onnx-export';

export interface LstmExport {
  channels: number;
  hidden: number;
  layers: number;
  horizon: number;
  params: Float32Array;
  mean: Float32Array;
  std: Float32Array;
  residualVar: Float32Array;
}

export interface TransformerExport {
  channels: number;
  width: number;
  heads: number;
  layers: number;
  horizon: number;
  window: number;
  ff: number;
  params: Float32Array;
  mean: Float32Array;
  std: Float32Array;
}

function opsetOf(owner: string, opts: { opset?: number }): number {
  checkOptionNames(owner, opts, ['opset']);
  return optInt(owner, 'opset', opts.opset, 13, 13, MAX_OPSET);
}

/** rows x cols -> cols x rows. */
function transpose(a: Float32Array, off: number, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[off + r * cols + c];
  return t;
}

/** Gate blocks of H rows each: ours (input, forget, cell, output) -> ONNX's (input, output, forget, cell). */
function onnxGates(a: Float32Array, off: number, H: number, cols: number): Float32Array {
  const out = new Float32Array(4 * H * cols);
  [0, 3, 1, 2].forEach((src, dst) => out.set(a.subarray(off + src * H * cols, off + (src + 1) * H * cols), dst * H * cols));
  return out;
}

export function lstmToOnnx(m: LstmExport, opts: { opset?: number } = {}): Uint8Array {
  const opset = opsetOf('LstmForecaster.toOnnx', opts);
  const { channels: C, hidden: H, layers: L, horizon } = m;
  const P = m.params;
  const G = 4 * H;
  const O = horizon * C;
  const g = new GraphBuilder(opset);
  const mean = g.floats('mean', m.mean, [C]);
  const std = g.floats('std', m.std, [C]);
  const z = g.node('Div', [g.node('Sub', ['input', mean]), std]);
  let x = g.node('Unsqueeze', [z, g.int64s('axes', [1])]); // [T, 1, C]
  const zeros = g.floats('zero_state', new Float32Array(H), [1, 1, H]);
  let off = 0;
  for (let l = 0; l < L; l++) {
    const I = l === 0 ? C : H;
    const W = g.floats(`W${l}`, onnxGates(P, off, H, I), [1, G, I]);
    off += G * I;
    const R = g.floats(`R${l}`, onnxGates(P, off, H, H), [1, G, H]);
    off += G * H;
    const B = new Float32Array(2 * G);
    B.set(onnxGates(P, off, H, 1));
    off += G;
    const b = g.floats(`B${l}`, B, [1, 2 * G]);
    const y = g.node('LSTM', [x, W, R, b, '', zeros, zeros], [{ name: 'hidden_size', i: H }]); // [T, 1, 1, H]
    x = g.node('Squeeze', [y, g.int64s('axes', [1])]); // [T, 1, H]
  }
  // The forecast of step t reads the state before step t: [h0, h_0 .. h_{T-2}].
  const prev = g.node('Slice', [x, g.int64s('starts', [0]), g.int64s('ends', [-1]), g.int64s('axes', [0])]);
  const hp = g.node('Squeeze', [g.node('Concat', [zeros, prev], [{ name: 'axis', i: 0 }]), g.int64s('axes', [1])]); // [T, H]
  const wh = g.floats('head_weight', P.subarray(off, off + C * H), [C, H]); // first horizon step only
  const bh = g.floats('head_bias', P.subarray(off + O * H, off + O * H + C), [C]);
  const pred = g.node('Gemm', [hp, wh, bh], [{ name: 'transB', i: 1 }], 'prediction');
  const e = g.node('Sub', [z, pred]);
  g.reduce('ReduceSum', g.node('Div', [g.node('Mul', [e, e]), g.floats('residual_var', m.residualVar, [C])]), [1], false, 'error');
  g.node('Add', [g.node('Mul', [pred, std]), mean], [], 'forecast');
  return finishModel(g, 'nadir_lstm_forecaster', [['input', ['T', C]]], [['prediction', ['T', C]], ['forecast', ['T', C]], ['error', ['T']]]);
}

/** Offsets of the Transformer blob (native/include/nadir/seq.h). */
function tfOffsets(m: TransformerExport) {
  const d = m.width;
  let off = 0;
  const take = (n: number) => { const o = off; off += n; return o; };
  const win = take(d * m.channels);
  const bin = take(d);
  const layers = [];
  for (let l = 0; l < m.layers; l++) {
    const L = {
      g1: take(d), be1: take(d), wq: take(d * d), wk: take(d * d), wv: take(d * d), wo: take(d * d),
      bq: take(d), bk: take(d), bv: take(d), bo: take(d), g2: take(d), be2: take(d),
      w1: take(d * m.ff), b1: take(m.ff), w2: take(d * m.ff), b2: take(d),
    };
    layers.push(L);
  }
  const gf = take(d);
  const bef = take(d);
  const headW = take(d * m.horizon * m.channels);
  const headB = take(m.horizon * m.channels);
  return { win, bin, layers, gf, bef, headW, headB, size: off };
}

const LN_EPS = 1e-5; // kLayerNormEps in seq.h

export function transformerToOnnx(m: TransformerExport, opts: { opset?: number } = {}): Uint8Array {
  const opset = opsetOf('TransformerForecaster.toOnnx', opts);
  const { channels: C, width: d, heads, window: W, ff } = m;
  const dh = d / heads;
  const O = m.horizon * C;
  const P = m.params;
  const o = tfOffsets(m);
  const g = new GraphBuilder(opset);
  const vec = (name: string, off: number, n: number) => g.floats(name, P.subarray(off, off + n), [n]);
  // x W^T + b for a row-major out x in W.
  const linear = (x: string, off: number, b: number, out: number, inp: number, tag: string) =>
    g.node('Add', [g.node('MatMul', [x, g.floats(`${tag}_wt`, transpose(P, off, out, inp), [inp, out])]), vec(`${tag}_b`, b, out)]);
  const mean = g.floats('mean', m.mean, [C]);
  const std = g.floats('std', m.std, [C]);
  const x3 = g.node('Reshape', ['input', g.int64s('shape', [0, W, C])]);
  const z = g.node('Div', [g.node('Sub', [x3, mean]), std]);
  const pe = new Float32Array(W * d);
  for (let k = 0; k < W; k++)
    for (let i = 0; i < d; i++) {
      const rate = Math.pow(10000, -(i - (i & 1)) / d);
      pe[k * d + i] = i & 1 ? Math.cos(k * rate) : Math.sin(k * rate);
    }
  let h = g.node('Add', [linear(z, o.win, o.bin, d, C, 'input_proj'), g.floats('positions', pe, [W, d])]);
  const mask = new Float32Array(W * W);
  for (let k = 0; k < W; k++) for (let j = k + 1; j < W; j++) mask[k * W + j] = -1e9;
  const maskName = g.floats('causal_mask', mask, [W, W]);
  const scale = g.floats('attn_scale', [1 / Math.sqrt(dh)], []);
  const heads4 = g.int64s('heads_shape', [0, W, heads, dh]);
  const merge = g.int64s('merge_shape', [0, W, d]);
  o.layers.forEach((L, l) => {
    const a = layerNorm(g, h, P.subarray(L.g1, L.g1 + d), P.subarray(L.be1, L.be1 + d), LN_EPS, `ln1_${l}`);
    const split = (t: string, perm: number[]) => g.node('Transpose', [g.node('Reshape', [t, heads4])], [{ name: 'perm', ints: perm }]);
    const q = split(linear(a, L.wq, L.bq, d, d, `q${l}`), [0, 2, 1, 3]); // [N, h, W, dh]
    const k = split(linear(a, L.wk, L.bk, d, d, `k${l}`), [0, 2, 3, 1]); // [N, h, dh, W]
    const v = split(linear(a, L.wv, L.bv, d, d, `v${l}`), [0, 2, 1, 3]);
    const s = g.node('Add', [g.node('Mul', [g.node('MatMul', [q, k]), scale]), maskName]);
    const p = g.node('Softmax', [s], [{ name: 'axis', i: -1 }]);
    const att = g.node('Reshape', [g.node('Transpose', [g.node('MatMul', [p, v])], [{ name: 'perm', ints: [0, 2, 1, 3] }]), merge]);
    const h1 = g.node('Add', [h, linear(att, L.wo, L.bo, d, d, `o${l}`)]);
    const b = layerNorm(g, h1, P.subarray(L.g2, L.g2 + d), P.subarray(L.be2, L.be2 + d), LN_EPS, `ln2_${l}`);
    const f = g.node('Relu', [linear(b, L.w1, L.b1, ff, d, `ff1_${l}`)]);
    h = g.node('Add', [h1, linear(f, L.w2, L.b2, d, ff, `ff2_${l}`)]);
  });
  const last = g.node('Reshape', [g.node('Gather', [h, g.int64s('last', [W - 1])], [{ name: 'axis', i: 1 }]), g.int64s('flat', [-1, d])]);
  const y = layerNorm(g, last, P.subarray(o.gf, o.gf + d), P.subarray(o.bef, o.bef + d), LN_EPS, 'ln_final');
  const pred = g.node('Gemm', [y, g.floats('head_weight', P.subarray(o.headW, o.headW + O * d), [O, d]), vec('head_bias', o.headB, O)], [{ name: 'transB', i: 1 }], 'prediction');
  const tile = (a: Float32Array) => { const t = new Float32Array(O); for (let i = 0; i < O; i++) t[i] = a[i % C]; return t; };
  g.node('Add', [g.node('Mul', [pred, g.floats('std_h', tile(m.std), [O])]), g.floats('mean_h', tile(m.mean), [O])], [], 'forecast');
  return finishModel(g, 'nadir_transformer_forecaster', [['input', ['N', W * C]]], [['prediction', ['N', O]], ['forecast', ['N', O]]]);
}
