'use strict';
// Seeded synthetic series with injected anomalies, shared by the sequence-detector tests.
const nadir = require('..');
const { rng, gaussian } = require('./helpers');

/**
 * Two channels: a sine (period 40) and a cosine (period 25) plus noise, T = 1600 steps. Injected
 * (labelled) events (when T is long enough): a spike on channel 0 at 1000, a level shift on channel 1 over [1200, 1260), and
 * a pattern change (channel 0's period drops to 11) over [1400, 1460). The training part (the first
 * min(800, T / 2) steps) is clean.
 */
function injectedSeries({ T = 1600, seed = 3, noise = 0.05 } = {}) {
  const rand = rng(seed);
  const X = new Float32Array(T * 2);
  for (let t = 0; t < T; t++) {
    const fast = t >= 1400 && t < 1460;
    X[2 * t] = Math.sin((2 * Math.PI * t) / (fast ? 11 : 40)) + noise * gaussian(rand);
    X[2 * t + 1] = 0.5 * Math.cos((2 * Math.PI * t) / 25) + noise * gaussian(rand);
  }
  if (T > 1000) X[2 * 1000] += 3;
  for (let t = 1200; t < Math.min(T, 1260); t++) X[2 * t + 1] += 1.5;
  const events = [
    { name: 'spike', start: 1000, end: 1000 },
    { name: 'level shift', start: 1200, end: 1259 },
    { name: 'pattern change', start: 1400, end: 1459 },
  ];
  const n = Math.min(800, T >> 1);
  return { X: new nadir.Matrix(X, T, 2), train: new nadir.Matrix(X.slice(0, n * 2), n, 2), events };
}

const overlaps = (e, w, slack = 0) => e.start <= w.end + slack && e.end >= w.start - slack;

module.exports = { injectedSeries, overlaps };
