'use strict';
// Timing helpers: plain hrtime loops where percentiles are needed, Benchmark.js for mean per-call
// timings with a margin of error.
const Benchmark = require('benchmark');

const now = () => process.hrtime.bigint();
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

function median(values) {
  const s = Float64Array.from(values).sort();
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Percentile (nearest rank) of sorted values, p in [0, 100]. */
function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k];
}

/** Runs fn `reps` times (after `warmup` untimed runs); returns every duration in seconds. */
async function timeRuns(fn, reps, warmup = 0) {
  for (let i = 0; i < warmup; i++) await fn();
  const out = [];
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    await fn();
    out.push(seconds(t0));
  }
  return out;
}

/** Cost of one timer read pair, in ns (reported next to per-call latencies, which include it). */
function timerOverheadNs() {
  const n = 20000;
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = now();
    t[i] = Number(now() - a);
  }
  return percentile(t.sort(), 50);
}

/**
 * Latency of single synchronous calls: `warmup` calls, then `calls` individually timed calls of
 * fn(i) (callers cycle through different rows with i). Returns microseconds.
 */
function latency(fn, calls, warmup) {
  for (let i = 0; i < warmup; i++) fn(i);
  const t = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const a = now();
    fn(i);
    t[i] = Number(now() - a);
  }
  t.sort();
  return { p50Us: percentile(t, 50) / 1e3, p99Us: percentile(t, 99) / 1e3, calls };
}

/** Mean time of one call with Benchmark.js (relative margin of error in %). */
function benchmarkMean(name, fn, maxTime) {
  let i = 0;
  const bench = new Benchmark(name, () => fn(i++), { maxTime, minSamples: 5, initCount: 1 });
  bench.run();
  if (bench.error) throw bench.error;
  return { meanUs: bench.stats.mean * 1e6, rmePct: bench.stats.rme, samples: bench.stats.sample.length };
}

module.exports = { now, seconds, median, percentile, timeRuns, timerOverheadNs, latency, benchmarkMean };
