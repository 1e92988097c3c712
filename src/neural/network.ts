// The shared description of a trained dense network: what the native trainer produces, what the
// native forward pass and the ONNX exporter consume, and what model files store.

/** 'leakyRelu' has slope 0.2 below zero. */
export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'identity' | 'leakyRelu';

/** y = act(norm(W x + b)); W is outputs x inputs, row-major (PyTorch's Linear layout). */
export interface DenseLayer {
  inputs: number;
  outputs: number;
  weight: Float32Array;
  bias: Float32Array;
  activation: Activation;
  /** Optional layer normalization over the outputs, applied to W x + b before the activation. */
  norm?: { gamma: Float32Array; beta: Float32Array; epsilon: number };
}

/**
 * Autoencoder. Inputs are standardized z = (x - mean) / std (statistics of the training data);
 * `layers` map z to its reconstruction zhat. Score = sum_j (z_j - zhat_j)^2; the reconstruction
 * in input units is zhat * std + mean; explain = the per-feature terms (z_j - zhat_j)^2.
 */
export interface AutoEncoderNet {
  kind: 'autoencoder';
  mean: Float32Array;
  std: Float32Array;
  layers: DenseLayer[];
}

/**
 * Variational autoencoder. encoder: z -> h; mu, logVar: h -> latent; decoder: mu -> zhat (the
 * decoded mean, so scoring is deterministic). Score = sum_j (z_j - zhat_j)^2 + beta * KL, with
 * KL = -0.5 * sum_k (1 + logVar_k - mu_k^2 - exp(logVar_k)).
 */
export interface VaeNet {
  kind: 'vae';
  mean: Float32Array;
  std: Float32Array;
  encoder: DenseLayer[];
  mu: DenseLayer;
  logVar: DenseLayer;
  decoder: DenseLayer[];
  beta: number;
}

export type Network = AutoEncoderNet | VaeNet;
