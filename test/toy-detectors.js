'use strict';
// Tiny detectors written against the public Detector contract, for hybrid tests that must not depend
// on which real detectors are built. Real-detector tests live beside them and skip when absent.
const nadir = require('..');

/** Sum over features of squared z-scores (a diagonal Mahalanobis distance); explain = per-feature z^2. */
class ZToy extends nadir.Detector {
  constructor(options) {
    super('ZToy', options, ['power']);
    this.type = 'ZToy';
    this.power = options && options.power !== undefined ? options.power : 2;
  }
  fitMatrix(m) {
    const mean = new Float32Array(m.cols);
    const std = new Float32Array(m.cols);
    for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) mean[j] += m.data[i * m.cols + j] / m.rows;
    for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) std[j] += (m.data[i * m.cols + j] - mean[j]) ** 2 / m.rows;
    for (let j = 0; j < m.cols; j++) std[j] = Math.sqrt(std[j]) || 1;
    this.mean = mean;
    this.std = std;
    return Promise.resolve(this.scoreMatrixSync(m));
  }
  contributions(m) {
    const out = new Float32Array(m.rows * m.cols);
    for (let i = 0; i < m.rows; i++)
      for (let j = 0; j < m.cols; j++) out[i * m.cols + j] = Math.abs((m.data[i * m.cols + j] - this.mean[j]) / this.std[j]) ** this.power;
    return out;
  }
  scoreMatrixSync(m) {
    const c = this.contributions(m);
    const out = new Float32Array(m.rows);
    for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out[i] += c[i * m.cols + j];
    return out;
  }
  scoreMatrix(m) {
    return new Promise((resolve) => setImmediate(() => resolve(this.scoreMatrixSync(m))));
  }
  explainMatrix(m) {
    return Promise.resolve(this.contributions(m));
  }
  exportState() {
    return { meta: { power: this.power }, arrays: { mean: this.mean, std: this.std } };
  }
  importState(state) {
    this.mean = state.arrays.mean;
    this.std = state.arrays.std;
    this.power = state.meta.power;
  }
}
nadir.registerDetector('ZToy', (o) => new ZToy(o));

/** Largest absolute z-score over features; no explanations. */
class MaxToy extends ZToy {
  constructor(options) {
    super(options);
    this.type = 'MaxToy';
  }
  scoreMatrixSync(m) {
    const c = this.contributions(m);
    const out = new Float32Array(m.rows);
    for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out[i] = Math.max(out[i], c[i * m.cols + j]);
    return out;
  }
  explainMatrix() {
    return Promise.reject(new nadir.NadirError('MaxToy does not provide per-feature explanations'));
  }
}
nadir.registerDetector('MaxToy', (o) => new MaxToy(o));

/** The real classical detectors present in this build (they land from other branches). */
function realDetectors() {
  const out = {};
  if (nadir.ECOD) out.ECOD = () => new nadir.ECOD();
  if (nadir.IsolationForest) out.IsolationForest = () => new nadir.IsolationForest({ trees: 50, seed: 3, threads: 1 });
  if (nadir.Mahalanobis) out.Mahalanobis = () => new nadir.Mahalanobis();
  if (nadir.PCA) out.PCA = () => new nadir.PCA();
  return out;
}

module.exports = { ZToy, MaxToy, realDetectors };

/** Score = the first feature: lets tests hand a detector any training-score distribution. */
class IdentityToy extends nadir.Detector {
  constructor(options) {
    super('IdentityToy', options, []);
    this.type = 'IdentityToy';
  }
  fitMatrix(m) {
    return Promise.resolve(this.scoreMatrixSync(m));
  }
  scoreMatrixSync(m) {
    const out = new Float32Array(m.rows);
    for (let i = 0; i < m.rows; i++) out[i] = m.data[i * m.cols];
    return out;
  }
  scoreMatrix(m) {
    return Promise.resolve(this.scoreMatrixSync(m));
  }
  exportState() {
    return { meta: {}, arrays: {} };
  }
  importState() {}
}
nadir.registerDetector('IdentityToy', (o) => new IdentityToy(o));
module.exports.IdentityToy = IdentityToy;
