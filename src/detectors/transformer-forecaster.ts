// TransformerForecaster: a small causal Transformer encoder over the last `window` steps with a
// dense head forecasting the next `horizon` steps; scored like LstmForecaster.
import { native } from '../binding';
import { Matrix } from '../data/matrix';
import { ModelFileError, OptionError } from '../errors';
import { optInt } from '../options';
import { OnnxSession } from '../neural/session';
import { registerDetector } from './base';
import { ForecasterOptions, SeqModel, SequenceForecaster } from '../series/forecaster';
import { transformerToOnnx } from '../series/onnx-seq';

export interface TransformerForecasterOptions extends ForecasterOptions {
  /** Model width d (embedding size). Default 16. */
  modelWidth?: number;
  /** Attention heads; must divide modelWidth. Default 2. */
  heads?: number;
  /** Encoder blocks. Default 1. */
  layers?: number;
  /** Hidden units of each block's feed-forward layer. Default 2 * modelWidth. */
  feedForward?: number;
}

/**
 * Causal Transformer encoder forecaster: input projection plus fixed sinusoidal positions, pre-norm
 * blocks (layer norm, causal multi-head attention, layer norm, ReLU feed-forward, residuals), a final
 * layer norm and a dense head on the last position. Trained natively (Adam, clipping, seeded);
 * `stream()` keeps a ring buffer of the last `window` points.
 */
export class TransformerForecaster extends SequenceForecaster<TransformerForecasterOptions> {
  readonly type = 'TransformerForecaster';
  private readonly widthValue: number;
  private readonly headsValue: number;
  private readonly layersValue: number;
  private readonly ffValue: number;
  private cache?: { params: Float32Array; model: SeqModel };

  constructor(options?: TransformerForecasterOptions) {
    super('TransformerForecaster', options, ['modelWidth', 'heads', 'layers', 'feedForward'], { learningRate: 5e-3 });
    const o = this.options;
    this.widthValue = optInt('TransformerForecaster', 'modelWidth', o.modelWidth, 16, 1, 4096);
    this.headsValue = optInt('TransformerForecaster', 'heads', o.heads, 2, 1, 4096);
    if (this.widthValue % this.headsValue !== 0)
      throw new OptionError(`TransformerForecaster option 'heads' (${this.headsValue}) must divide 'modelWidth' (${this.widthValue})`);
    this.layersValue = optInt('TransformerForecaster', 'layers', o.layers, 1, 1, 16);
    this.ffValue = optInt('TransformerForecaster', 'feedForward', o.feedForward, 2 * this.widthValue, 1, 65536);
  }

  get modelWidth(): number {
    return this.widthValue;
  }
  get heads(): number {
    return this.headsValue;
  }
  get layers(): number {
    return this.layersValue;
  }
  get feedForward(): number {
    return this.ffValue;
  }

  /** [1, channels, width, heads, layers, horizon, window, ff]: the native shape descriptor. @internal */
  meta(channels = this.channels): Int32Array {
    return Int32Array.from([1, channels, this.widthValue, this.headsValue, this.layersValue, this.horizonValue, this.windowValue, this.ffValue]);
  }

  protected async trainModel(Z: Float32Array, T: number, C: number, opts: Float64Array, flag: Int32Array): Promise<Float32Array> {
    const r = await native.seqTfTrain(this.meta(C), Z, T, opts, flag);
    this.lossHistory = r.loss;
    return r.params;
  }

  protected model(): SeqModel {
    const params = this.params!;
    if (this.cache?.params === params) return this.cache.model;
    const meta = this.meta();
    const C = meta[1];
    const W = this.windowValue;
    // Transposed weights for the GEMM (also checks the blob length).
    const packed = native.seqTfPack(meta, params);
    const model: SeqModel = {
      // Ring buffer holding every point twice (at i and i + W), so the last W are always contiguous.
      stateSize: 2 * W * C,
      predict: async (Z, T, threads) => {
        const out = new Float32Array((T + 1) * C);
        if (T >= W) await native.seqTfPredictAsync(meta, packed, Z, T, W, out.subarray(W * C), threads);
        return out.subarray(0, T * C);
      },
      predictSync: (Z, T) => {
        const out = new Float32Array((T + 1) * C);
        if (T >= W) native.seqTfPredict(meta, packed, Z, T, W, out.subarray(W * C), 1);
        return out.subarray(0, T * C);
      },
      step: (ring, steps, z, pred) => {
        const k = steps % W;
        let ok = false;
        if (steps >= W) {
          native.seqTfPredict(meta, packed, ring.subarray(k * C, (k + W) * C), W, W, pred, 1);
          ok = true;
        }
        ring.set(z, k * C);
        ring.set(z, (k + W) * C);
        return ok;
      },
    };
    this.cache = { params, model };
    return model;
  }

  protected shapeMeta(): Record<string, unknown> {
    return { modelWidth: this.widthValue, heads: this.headsValue, layers: this.layersValue, feedForward: this.ffValue, window: this.windowValue, horizon: this.horizonValue };
  }

  protected restoreShape(meta: Record<string, unknown>, _channels: number): void {
    if (meta.modelWidth !== this.widthValue || meta.heads !== this.headsValue || meta.layers !== this.layersValue || meta.feedForward !== this.ffValue || meta.window !== this.windowValue || meta.horizon !== this.horizonValue)
      throw new ModelFileError('the stored Transformer shape does not match the stored options');
  }

  /**
   * The forecaster as an ONNX model from standard operators (MatMul, Softmax, ...): input `input`
   * float32 [N, window * C] (N raw windows, each `window` rows flattened); output `prediction`
   * [N, horizon * C] (standardized forecasts of the following steps) and `forecast` (input units).
   */
  toOnnx(opts: { opset?: number } = {}): Uint8Array {
    this.ensureFitted();
    return transformerToOnnx(
      { channels: this.nFeatures, width: this.widthValue, heads: this.headsValue, layers: this.layersValue, horizon: this.horizonValue, window: this.windowValue, ff: this.ffValue, params: this.params!, ...this.standardizer },
      opts,
    );
  }

  protected async predictOnnx(session: OnnxSession, _Z: Float32Array, m: Matrix): Promise<Float32Array> {
    const C = m.cols;
    const W = this.windowValue;
    const T = m.rows;
    const n = T - W;
    const out = new Float32Array(T * C);
    if (n <= 0) return out;
    // Windows of raw rows [t - W, t) for t = W .. T-1 (the model standardizes itself).
    const windows = new Float32Array(n * W * C);
    for (let i = 0; i < n; i++) windows.set(m.data.subarray(i * C, (i + W) * C), i * W * C);
    const r = await session.run('input', windows, n, W * C, ['prediction']);
    const p = r.arrays[0];
    const O = this.horizonValue * C;
    for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) out[(W + i) * C + c] = p[i * O + c];
    return out;
  }
}

registerDetector('TransformerForecaster', (o) => new TransformerForecaster(o));
