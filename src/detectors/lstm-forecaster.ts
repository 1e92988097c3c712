// LstmForecaster: a stacked LSTM with a dense head forecasting the next `horizon` steps; the score of
// a step is its one-step forecast error, normalized per channel by the training residual variance.
import { native } from '../binding';
import { Matrix } from '../data/matrix';
import { ModelFileError } from '../errors';
import { optInt } from '../options';
import { OnnxSession } from '../neural/session';
import { registerDetector } from './base';
import { ForecasterOptions, SeqModel, SequenceForecaster } from '../series/forecaster';
import { lstmToOnnx } from '../series/onnx-seq';

export interface LstmForecasterOptions extends ForecasterOptions {
  /** Units per LSTM layer. Default 32. */
  hiddenSize?: number;
  /** Stacked LSTM layers. Default 1. */
  layers?: number;
}

/**
 * Stacked LSTM forecaster for time series (rows = time steps, columns = channels). Trained natively
 * by backpropagation through time over `window`-step training windows (seeded sampling, gradient
 * clipping, Adam). Scoring runs the LSTM over the whole series carrying its state, so `stream()`
 * scores each new point at constant cost with exactly the batch scores.
 */
export class LstmForecaster extends SequenceForecaster<LstmForecasterOptions> {
  readonly type = 'LstmForecaster';
  private readonly hiddenValue: number;
  private readonly layersValue: number;
  private cache?: { params: Float32Array; meta: Int32Array; packed: Float32Array; model: SeqModel };

  constructor(options?: LstmForecasterOptions) {
    super('LstmForecaster', options, ['hiddenSize', 'layers'], { learningRate: 5e-3 });
    this.hiddenValue = optInt('LstmForecaster', 'hiddenSize', this.options.hiddenSize, 32, 1, 4096);
    this.layersValue = optInt('LstmForecaster', 'layers', this.options.layers, 1, 1, 16);
  }

  get hiddenSize(): number {
    return this.hiddenValue;
  }
  get layers(): number {
    return this.layersValue;
  }

  /** [1, channels, hidden, layers, horizon]: the native shape descriptor. @internal */
  meta(channels = this.channels): Int32Array {
    return Int32Array.from([1, channels, this.hiddenValue, this.layersValue, this.horizonValue]);
  }

  protected async trainModel(Z: Float32Array, T: number, C: number, opts: Float64Array, flag: Int32Array): Promise<Float32Array> {
    const r = await native.seqLstmTrain(this.meta(C), Z, T, opts, flag);
    this.lossHistory = r.loss;
    return r.params;
  }

  protected model(): SeqModel {
    const params = this.params!;
    if (this.cache?.params === params) return this.cache.model;
    const meta = this.meta();
    const packed = native.seqLstmPack(meta, params);
    const C = meta[1];
    const stateSize = 2 * this.layersValue * this.hiddenValue;
    const model: SeqModel = {
      stateSize,
      predict: async (Z, T) => {
        const preds = new Float32Array(T * C);
        await native.seqLstmRunAsync(meta, packed, Z, T, new Float32Array(stateSize), preds);
        return preds;
      },
      predictSync: (Z, T) => {
        const preds = new Float32Array(T * C);
        native.seqLstmRun(meta, packed, Z, T, new Float32Array(stateSize), preds);
        return preds;
      },
      step: (state, _steps, z, pred) => {
        native.seqLstmRun(meta, packed, z, 1, state, pred);
        return true;
      },
    };
    this.cache = { params, meta, packed, model };
    return model;
  }

  protected shapeMeta(): Record<string, unknown> {
    return { hiddenSize: this.hiddenValue, layers: this.layersValue, window: this.windowValue, horizon: this.horizonValue };
  }

  protected restoreShape(meta: Record<string, unknown>, _channels: number): void {
    if (meta.hiddenSize !== this.hiddenValue || meta.layers !== this.layersValue || meta.window !== this.windowValue || meta.horizon !== this.horizonValue)
      throw new ModelFileError('the stored LSTM shape does not match the stored options');
  }

  /**
   * The scoring path as an ONNX model (ONNX's LSTM operator per layer): input `input` float32
   * [T, C] raw series (state starts at zero); outputs `prediction` [T, C] (standardized one-step
   * forecasts; row t from the state before step t), `forecast` [T, C] (in input units) and
   * `error` [T] (normalized squared error, before warm-up masking and smoothing).
   */
  toOnnx(opts: { opset?: number } = {}): Uint8Array {
    this.ensureFitted();
    return lstmToOnnx(
      { channels: this.nFeatures, hidden: this.hiddenValue, layers: this.layersValue, horizon: this.horizonValue, params: this.params!, ...this.standardizer, residualVar: this.residualVar! },
      opts,
    );
  }

  protected async predictOnnx(session: OnnxSession, _Z: Float32Array, m: Matrix): Promise<Float32Array> {
    const r = await session.run('input', m.data, m.rows, m.cols, ['prediction']);
    return r.arrays[0];
  }
}

registerDetector('LstmForecaster', (o) => new LstmForecaster(o));
