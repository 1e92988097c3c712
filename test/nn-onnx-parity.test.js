'use strict';
const assert = require('assert');
const nadir = require('..');
const { shipped } = require('./helpers');

// The trained Network is exactly what the ONNX exporter takes: native scores and ONNX Runtime
// scores of the exported model agree.
describe('native forward pass vs exported ONNX model', () => {
  const { X } = shipped('cardio');
  for (const Det of [nadir.AutoEncoder, nadir.VariationalAutoEncoder]) {
    for (const normalization of ['none', 'layer']) {
      it(`${Det.name} (normalization '${normalization}')`, async () => {
        const det = new Det({ seed: 1, epochs: 3, threads: 1, normalization, activation: normalization === 'layer' ? 'tanh' : 'relu' });
        await det.fit(X);
        const session = await nadir.OnnxSession.create(nadir.networkToOnnx(det.network), { threads: 1, workers: 0, logger: () => {} });
        const r = await session.run('input', X.data, X.rows, X.cols, ['score']);
        const s = await det.score(X);
        for (let i = 0; i < s.length; i++) assert.ok(Math.abs(s[i] - r.arrays[0][i]) <= 1e-4 * (1 + Math.abs(s[i])), `row ${i}: ${s[i]} vs ${r.arrays[0][i]}`);
      });
    }
  }
});
