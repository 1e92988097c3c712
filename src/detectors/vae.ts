import { optEnum, optInt, optNumber } from '../options';
import { LayerShape, NetShape } from '../neural/native-net';
import { registerDetector } from './base';
import { NeuralDetector, NeuralOptions, optLayers } from './neural-base';

export interface VariationalAutoEncoderOptions extends NeuralOptions {
  /** Encoder hidden layer sizes. Default [64, 32]. */
  encoderLayers?: number[];
  /** Decoder hidden layer sizes. Default: the encoder's, reversed. */
  decoderLayers?: number[];
  /** Size of the latent space (mu and logVar). Default 8. */
  latentSize?: number;
  /** Weight of the KL term in the loss and the score. Default 1. */
  beta?: number;
  /**
   * 'mean' (default): deterministic score from the decoded mean, reconstruction error + beta * KL.
   * 'mc': Monte-Carlo reconstruction probability: the mean squared reconstruction error over
   * `samples` decoded latent draws (the negative Gaussian log-likelihood up to constants), seeded
   * by `seed` and each row's values, so a row scores the same alone or in any batch.
   */
  score?: 'mean' | 'mc';
  /** Latent draws per row for score: 'mc'. Default 10. */
  samples?: number;
}

/**
 * Variational autoencoder trained natively (reparameterization, KL weighted by beta, Adam,
 * dropout, early stopping). Inputs are standardized with the training statistics.
 */
export class VariationalAutoEncoder extends NeuralDetector<VariationalAutoEncoderOptions> {
  readonly type = 'VariationalAutoEncoder';
  private readonly encoderSizes: number[];
  private readonly decoderSizes: number[];
  private readonly latent: number;
  private readonly betaValue: number;
  private readonly mode: { mode: number; samples: number };

  constructor(options?: VariationalAutoEncoderOptions) {
    super('VariationalAutoEncoder', options, ['encoderLayers', 'decoderLayers', 'latentSize', 'beta', 'score', 'samples']);
    const o = this.options;
    const owner = 'VariationalAutoEncoder';
    this.encoderSizes = optLayers(owner, 'encoderLayers', o.encoderLayers, [64, 32], true);
    this.decoderSizes = optLayers(owner, 'decoderLayers', o.decoderLayers, [...this.encoderSizes].reverse(), true);
    this.latent = optInt(owner, 'latentSize', o.latentSize, 8, 1, 65536);
    this.betaValue = optNumber(owner, 'beta', o.beta, 1, 0, 1e6);
    const score = optEnum(owner, 'score', o.score, ['mean', 'mc'] as const, 'mean');
    this.mode = { mode: score === 'mc' ? 1 : 0, samples: optInt(owner, 'samples', o.samples, 10, 1, 100000) };
  }

  get latentSize(): number {
    return this.latent;
  }
  get beta(): number {
    return this.betaValue;
  }

  protected get klWeight(): number {
    return this.betaValue;
  }
  protected get scoreMode(): { mode: number; samples: number } {
    return this.mode;
  }

  protected shapeFor(features: number): NetShape {
    const hidden = (inputs: number, outputs: number): LayerShape => ({
      inputs,
      outputs,
      activation: this.activationValue,
      norm: this.layerNorm,
      dropout: this.train.dropout > 0,
    });
    const layers: LayerShape[] = [];
    let w = features;
    for (const k of this.encoderSizes) {
      layers.push(hidden(w, k));
      w = k;
    }
    const head = { inputs: w, outputs: this.latent, activation: 'identity' as const, norm: false, dropout: false };
    layers.push(head, { ...head });
    w = this.latent;
    for (const k of this.decoderSizes) {
      layers.push(hidden(w, k));
      w = k;
    }
    layers.push({ inputs: w, outputs: features, activation: 'identity', norm: false, dropout: false });
    return { kind: 'vae', features, layers, nEncoder: this.encoderSizes.length };
  }
}

registerDetector('VariationalAutoEncoder', (o) => new VariationalAutoEncoder(o));
