import { NetShape } from '../neural/native-net';
import { registerDetector } from './base';
import { NeuralDetector, NeuralOptions, optLayers } from './neural-base';

export interface AutoEncoderOptions extends NeuralOptions {
  /** Encoder layer sizes; the decoder mirrors them (PyOD's hidden_neuron_list). Default [64, 32]: features -> 64 -> 32 -> 64 -> features. */
  hiddenLayers?: number[];
}

/**
 * Dense autoencoder trained natively to reconstruct standardized training rows (MSE, Adam,
 * dropout, early stopping on a validation split). Score = per-row squared reconstruction error in
 * standardized units; explain = the per-feature terms. Defaults follow PyOD's AutoEncoder.
 * Inputs are standardized with the training mean and (population) std, stored in the model; a
 * column whose training std is zero (or below 1e-6 of its mean's magnitude) is only centered
 * (std := 1), so any change in it still raises the score instead of dividing by zero.
 */
export class AutoEncoder extends NeuralDetector<AutoEncoderOptions> {
  readonly type = 'AutoEncoder';
  private readonly hidden: number[];

  constructor(options?: AutoEncoderOptions) {
    super('AutoEncoder', options, ['hiddenLayers']);
    this.hidden = optLayers('AutoEncoder', 'hiddenLayers', this.options.hiddenLayers, [64, 32]);
  }

  protected shapeFor(features: number): NetShape {
    const sizes = [features, ...this.hidden, ...this.hidden.slice(0, -1).reverse(), features];
    const hiddenCount = sizes.length - 2;
    const layers = sizes.slice(1).map((outputs, i) => {
      const hidden = i < hiddenCount;
      return {
        inputs: sizes[i],
        outputs,
        activation: hidden ? this.activationValue : ('identity' as const),
        norm: hidden && this.layerNorm,
        dropout: hidden && this.train.dropout > 0,
      };
    });
    return { kind: 'autoencoder', features, layers, nEncoder: 0 };
  }
}

registerDetector('AutoEncoder', (o) => new AutoEncoder(o));
