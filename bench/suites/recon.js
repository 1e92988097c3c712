'use strict';
// Reconstruction-error kernel vs the native sum of one large Float32Array, same run, same bytes:
// how close the kernel comes to reading memory at the speed a plain reduction does.
const { median, now, seconds } = require('../lib/timing');

function fill(a, seed) {
  let s = seed;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
}

function run(nadir, cfg) {
  const { native } = require('../../dist/binding');
  const rows = cfg.reconRows;
  const cols = 10;
  // Buffers are allocated and touched once, then reused (the public API takes `out` for that):
  // first touch of fresh memory is slow here.
  const x = new Float32Array(rows * cols);
  const r = new Float32Array(rows * cols);
  const big = new Float32Array(2 * rows * cols); // the same bytes as both inputs together
  const out = new Float32Array(rows);
  fill(x, 1);
  fill(r, 2);
  fill(big, 3);
  const bytes = x.byteLength + r.byteLength;
  const X = { data: x, rows, cols };
  const R = { data: r, rows, cols };
  let sink = 0;
  const fns = [
    () => { sink += native.sumF32(big); },
    () => native.reconError(x, r, rows, cols, 0, out, null),
    () => { sink += nadir.reconstructionError(X, R, { out }).scores[0]; },
  ];
  // Warm up, then interleave the three so drift on a shared machine hits them alike.
  for (const fn of fns) { fn(); fn(); }
  const times = fns.map(() => []);
  for (let i = 0; i < cfg.reconReps; i++)
    fns.forEach((fn, k) => {
      const t0 = now();
      fn();
      times[k].push(seconds(t0));
    });
  const [sumS, kernelS, apiS] = times.map(median);
  if (Number.isNaN(sink)) console.log(''); // keeps the sums alive
  return {
    rows,
    cols,
    inputBytes: bytes,
    simd: nadir.simdInfo().active,
    sumGBps: bytes / sumS / 1e9,
    kernelGBps: bytes / kernelS / 1e9,
    kernelRowsPerS: rows / kernelS,
    apiGBps: bytes / apiS / 1e9,
    apiRowsPerS: rows / apiS,
    kernelVsSum: sumS / kernelS,
    apiVsSum: sumS / apiS,
  };
}

module.exports = { run };
