'use strict';
// Mahalanobis and PCA skip the up-front NaN/Inf scan in score() and rely on non-finite values
// reaching the score; this checks that every position and kind of bad value is still reported.
const assert = require('assert');
const nadir = require('..');
const { synthetic } = require('./helpers');

describe('non-finite input found through the scores', () => {
  const { X } = synthetic({ rows: 300, cols: 6, seed: 11 });
  const makers = [
    ['Mahalanobis classical', () => new nadir.Mahalanobis({ seed: 1 })],
    ['Mahalanobis shrinkage', () => new nadir.Mahalanobis({ shrinkage: 0.3, seed: 1 })],
    ['PCA weighted', () => new nadir.PCA({ seed: 1 })],
    ['PCA projection', () => new nadir.PCA({ score: 'projection', seed: 1 })],
    ['PCA reconstruction', () => new nadir.PCA({ score: 'reconstruction', components: 2, seed: 1 })],
  ];
  for (const [name, make] of makers) {
    it(`${name}: every NaN/+-Inf position is named`, async () => {
      const det = await make().fit(X);
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (const [row, col] of [[0, 0], [17, 3], [39, 5]]) {
          const data = X.data.slice(0, 40 * 6);
          data[row * 6 + col] = bad;
          const word = Number.isNaN(bad) ? 'NaN' : bad > 0 ? 'Infinity' : '-Infinity';
          const re = new RegExp(`${word} at row ${row}, column ${col}`);
          await assert.rejects(det.score({ data, rows: 40, cols: 6 }), re);
          assert.throws(() => det.scoreSync(data.subarray(row * 6, row * 6 + 6)), new RegExp(`${word} at row 0, column ${col}`));
        }
      }
      // Clean input still scores, and equals the per-row sync path.
      const clean = X.sliceRows(0, 40);
      const s = await det.score(clean);
      for (let i = 0; i < 40; i += 13) assert.ok(Math.abs(s[i] - det.scoreSync(clean.row(i))[0]) <= 1e-5 * Math.max(1, Math.abs(s[i])));
    });
  }
});
