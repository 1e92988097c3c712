#!/usr/bin/env node
'use strict';
// Numenta Anomaly Benchmark: `node bench/nab.js [--quick] [--epochs=N] [--no-save]` (npm run bench:nab).
//
// For each of NAB's 58 series: fit on the first 15% (NAB's probationary period), score the whole
// series (the models' state and windows warm up on the training part), and keep the events found in
// the remaining 85%. Every method gets the same event pipeline: per-step scores smoothed by an EWMA
// (0.7), Hundman et al.'s dynamic threshold on the square roots of the scores of the scored part (5
// passes), pruning 0.13 (SequenceForecaster.eventsFromScores). Rows are taken as time steps
// (NAB's timestamps are not resampled).
//
// Window-based metrics per category, counts summed over the category's series: a labelled window
// overlapped by at least one event is detected (TP), a window with no event is missed (FN), an event
// overlapping no window is a false positive (FP). precision = events overlapping a window / events,
// recall = detected windows / windows, F1 their harmonic mean. Windows entirely inside the training
// part are dropped. Targets: each sequence model's mean F1 over the five real-data categories beats
// both baselines'; streaming p99 <= 50 us per point.
//
// Baselines, same run: a rolling z-score (score = squared z of x[t] against the mean and std of the
// previous 32 values) and nadir's IsolationForest (100 trees) on lagged windows of 32 standardized
// values (the score of step t is that of the window ending at t, as a squared robust z against the
// training windows' scores, so the event pipeline treats it like the other scores).
const fs = require('fs');
const os = require('os');
const path = require('path');
const nadir = require('..');
const { dataDir, repoRoot } = require('./lib/data');
const { printTable } = require('./lib/table');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const save = !args.includes('--no-save') && !quick;
const epochsArg = args.find((a) => a.startsWith('--epochs='));
const EPOCHS = epochsArg ? Number(epochsArg.slice(9)) : quick ? 3 : 10;
const WINDOW = 32;
const TRAIN_SHARE = 0.15;
const SMOOTHING = 0.7;
const REAL = ['realAWSCloudwatch', 'realAdExchange', 'realKnownCause', 'realTraffic', 'realTweets'];

const nabDir = path.join(dataDir(), 'nab');
if (!fs.existsSync(path.join(nabDir, 'labels', 'combined_windows.json'))) {
  console.error(`NAB not found under ${nabDir} (set NADIR_DATA to the folder holding nab/)`);
  process.exit(1);
}
const labels = JSON.parse(fs.readFileSync(path.join(nabDir, 'labels', 'combined_windows.json'), 'utf8'));
const toMs = (s) => Date.parse(s.trim().replace(' ', 'T').replace(/\.\d+$/, '') + 'Z');

function readSeries(rel) {
  const lines = fs.readFileSync(path.join(nabDir, 'data', rel), 'utf8').trim().split('\n').slice(1);
  const times = new Float64Array(lines.length);
  const values = new Float32Array(lines.length);
  lines.forEach((l, i) => {
    const [t, v] = l.split(',');
    times[i] = toMs(t);
    values[i] = Number(v);
  });
  const windows = (labels[rel] ?? []).map(([a, b]) => {
    const s = toMs(a);
    const e = toMs(b);
    let start = -1;
    let end = -1;
    for (let i = 0; i < times.length; i++) if (times[i] >= s && times[i] <= e) { if (start < 0) start = i; end = i; }
    return { start, end };
  }).filter((w) => w.start >= 0);
  return { rel, category: rel.split('/')[0], times, values, windows };
}

// ------------------------------------------------------------------ methods

/** Per-step scores of the sequence detectors (default options except epochs, seed, threads). */
function sequenceMethod(name, Cls, options) {
  return {
    name,
    options,
    async run(series, trainRows) {
      const X = new nadir.Matrix(series.values, series.values.length, 1);
      const train = new nadir.Matrix(series.values.subarray(0, trainRows), trainRows, 1);
      const det = new Cls({ ...options, seed: 1, threads: 1 });
      const t0 = process.hrtime.bigint();
      await det.fit(train);
      const fitS = Number(process.hrtime.bigint() - t0) / 1e9;
      const t1 = process.hrtime.bigint();
      const scores = await det.score(X);
      const scoreS = Number(process.hrtime.bigint() - t1) / 1e9;
      return { scores, fitS, scoreS, det };
    },
  };
}

const zscoreMethod = {
  name: 'rolling z-score',
  options: { window: WINDOW },
  async run(series) {
    const x = series.values;
    const T = x.length;
    const t0 = process.hrtime.bigint();
    const raw = new Float32Array(T);
    let sum = 0;
    let sq = 0;
    let gmean = 0;
    for (let t = 0; t < T; t++) gmean += x[t];
    gmean /= T;
    const floor = 1e-6 * Math.max(1, Math.abs(gmean));
    for (let t = 0; t < T; t++) {
      if (t >= WINDOW) {
        const m = sum / WINDOW;
        const sd = Math.sqrt(Math.max(0, sq / WINDOW - m * m));
        raw[t] = ((x[t] - m) / Math.max(sd, floor)) ** 2;
        sum -= x[t - WINDOW];
        sq -= x[t - WINDOW] * x[t - WINDOW];
      }
      sum += x[t];
      sq += x[t] * x[t];
    }
    const scores = nadir.ewma(raw, SMOOTHING, WINDOW);
    return { scores, fitS: 0, scoreS: Number(process.hrtime.bigint() - t0) / 1e9 };
  },
};

const iforestMethod = {
  name: 'IsolationForest (lagged windows)',
  options: { window: WINDOW, trees: 100 },
  async run(series, trainRows) {
    const x = series.values;
    const T = x.length;
    const st = nadir.fitStandardizer(new nadir.Matrix(x.subarray(0, trainRows), trainRows, 1));
    const z = Float32Array.from(x, (v) => (v - st.mean[0]) / st.std[0]);
    const w = nadir.makeWindows(new nadir.Matrix(z, T, 1), { window: WINDOW, horizon: 0 });
    const nTrain = trainRows - WINDOW + 1;
    const det = new nadir.IsolationForest({ trees: 100, seed: 1, threads: 1 });
    const t0 = process.hrtime.bigint();
    await det.fit(new nadir.Matrix(w.inputs.data.subarray(0, nTrain * WINDOW), nTrain, WINDOW));
    const fitS = Number(process.hrtime.bigint() - t0) / 1e9;
    const t1 = process.hrtime.bigint();
    const s = await det.score(w.inputs);
    // Isolation scores live in a narrow band (about 0.35 to 0.75), where the relative pruning of
    // the event pipeline cannot work; put them on the forecasters' scale: the squared robust z of
    // the score against the training windows' scores (median, 1.4826 MAD), floored at 0.
    const ts = Float64Array.from(s.subarray(0, nTrain)).sort();
    const med = ts[Math.floor(ts.length / 2)];
    const mad = Float64Array.from(ts, (v) => Math.abs(v - med)).sort()[Math.floor(ts.length / 2)] * 1.4826 || 1e-6;
    const raw = new Float32Array(T);
    for (let i = 0; i < s.length; i++) raw[i + WINDOW - 1] = Math.max(0, (s[i] - med) / mad) ** 2; // window i ends at step i + WINDOW - 1
    raw.fill(0, 0, WINDOW);
    const scores = nadir.ewma(raw, SMOOTHING, WINDOW);
    return { scores, fitS, scoreS: Number(process.hrtime.bigint() - t1) / 1e9 };
  },
};

// ------------------------------------------------------------------ evaluation

/** Events of the scored part with the shared pipeline (the forecaster's eventsFromScores). */
function eventsOf(scores, from) {
  const part = scores.subarray(from);
  const thr = nadir.dynamicThreshold(Float32Array.from(part, Math.sqrt), { rounds: 5 }).threshold ** 2;
  return nadir.findEvents(part, thr, { pruning: 0.13 }).map((e) => ({ ...e, start: e.start + from, end: e.end + from, peak: e.peak + from }));
}

function evaluate(events, windows, from) {
  const ws = windows.filter((w) => w.end >= from).map((w) => ({ start: Math.max(w.start, from), end: w.end }));
  const hit = (e, w) => e.start <= w.end && e.end >= w.start;
  const tp = ws.filter((w) => events.some((e) => hit(e, w))).length;
  const goodEvents = events.filter((e) => ws.some((w) => hit(e, w))).length;
  return { windows: ws.length, tp, fn: ws.length - tp, events: events.length, fp: events.length - goodEvents, goodEvents };
}

const prf = (c) => {
  const precision = c.events > 0 ? c.goodEvents / c.events : c.windows > 0 ? 0 : null;
  const recall = c.windows > 0 ? c.tp / c.windows : null;
  const f1 = precision !== null && recall !== null ? (precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0) : null;
  return { precision, recall, f1 };
};

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))];
}

/** Per-point streaming latency (µs) over the scored part of a few series. */
function streamingLatency(det, values, from, maxPoints) {
  const s = det.stream();
  for (let t = 0; t < from; t++) s.push(values[t]);
  const n = Math.min(values.length - from, maxPoints);
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[from + i];
    const t0 = process.hrtime.bigint();
    s.push(v);
    lat[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return lat;
}

async function main() {
  const all = Object.keys(labels).sort();
  const cats = [...new Set(all.map((r) => r.split('/')[0]))];
  const files = quick ? cats.flatMap((c) => all.filter((r) => r.startsWith(c + '/')).slice(0, 2)) : all;
  const methods = [
    sequenceMethod('LstmForecaster', nadir.LstmForecaster, { epochs: EPOCHS }),
    sequenceMethod('TransformerForecaster', nadir.TransformerForecaster, { epochs: EPOCHS }),
    zscoreMethod,
    iforestMethod,
  ];
  console.log(`NAB: ${files.length} series from ${nabDir}; train on the first ${TRAIN_SHARE * 100}%, epochs ${EPOCHS}${quick ? ' (--quick)' : ''}; ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const res = {};
  for (const m of methods) res[m.name] = { options: m.options, fitS: 0, scoreS: 0, points: 0, perCategory: {}, latencies: [] };
  const wall0 = Date.now();
  for (const rel of files) {
    const series = readSeries(rel);
    const T = series.values.length;
    const trainRows = Math.floor(T * TRAIN_SHARE);
    const line = [];
    for (const m of methods) {
      const r = await m.run(series, trainRows);
      const ev = eventsOf(r.scores, trainRows);
      const c = evaluate(ev, series.windows, trainRows);
      const acc = res[m.name];
      acc.fitS += r.fitS;
      acc.scoreS += r.scoreS;
      acc.points += T;
      const pc = (acc.perCategory[series.category] ??= { series: 0, windows: 0, tp: 0, fn: 0, events: 0, fp: 0, goodEvents: 0 });
      pc.series++;
      for (const k of ['windows', 'tp', 'fn', 'events', 'fp', 'goodEvents']) pc[k] += c[k];
      if (r.det) acc.latencies.push(...streamingLatency(r.det, series.values, trainRows, quick ? 500 : 2000));
      line.push(`${m.name.split(' ')[0]} ${c.tp}/${c.windows} fp ${c.fp}`);
    }
    console.log(`  ${rel.padEnd(62)} ${line.join(' | ')}`);
  }
  const wallS = (Date.now() - wall0) / 1000;

  const summary = {};
  for (const m of methods) {
    const acc = res[m.name];
    const perCategory = {};
    for (const [cat, c] of Object.entries(acc.perCategory)) perCategory[cat] = { ...c, ...prf(c) };
    const realF1 = REAL.map((c) => perCategory[c]?.f1).filter((v) => v !== null && v !== undefined);
    const lat = Float64Array.from(acc.latencies).sort();
    summary[m.name] = {
      options: acc.options,
      perCategory,
      meanF1Real: realF1.length ? realF1.reduce((a, b) => a + b, 0) / realF1.length : null,
      fitSeconds: acc.fitS,
      scoreSeconds: acc.scoreS,
      points: acc.points,
      streamingP50Us: lat.length ? quantile(lat, 0.5) : null,
      streamingP99Us: lat.length ? quantile(lat, 0.99) : null,
      streamingPoints: lat.length,
    };
  }

  const f = (v, d = 2) => (v === null || v === undefined ? '-' : v.toFixed(d));
  for (const cat of cats) {
    printTable(
      `${cat}`,
      ['method', 'windows', 'detected', 'events', 'false', 'precision', 'recall', 'F1'],
      methods.map((m) => {
        const c = summary[m.name].perCategory[cat];
        return c ? [m.name, c.windows, c.tp, c.events, c.fp, f(c.precision), f(c.recall), f(c.f1)] : [m.name, '-', '-', '-', '-', '-', '-', '-'];
      }),
    );
  }
  printTable(
    'Summary (mean F1 over the five real-data categories; training and batch scoring seconds over all series; streaming µs per point)',
    ['method', 'mean F1 (real)', 'fit s', 'score s', 'stream p50 µs', 'stream p99 µs'],
    methods.map((m) => {
      const s = summary[m.name];
      return [m.name, f(s.meanF1Real, 3), f(s.fitSeconds, 1), f(s.scoreSeconds, 2), f(s.streamingP50Us, 1), f(s.streamingP99Us, 1)];
    }),
  );
  const baseF1 = Math.max(summary['rolling z-score'].meanF1Real ?? 0, summary['IsolationForest (lagged windows)'].meanF1Real ?? 0);
  const targets = [];
  for (const name of ['LstmForecaster', 'TransformerForecaster']) {
    const s = summary[name];
    targets.push({ target: `${name} mean F1 (real) > both baselines (${f(baseF1, 3)})`, value: f(s.meanF1Real, 3), met: s.meanF1Real > baseF1 });
    targets.push({ target: `${name} streaming p99 <= 50 µs`, value: f(s.streamingP99Us, 1), met: s.streamingP99Us <= 50 });
  }
  printTable('Targets', ['target', 'value', 'met'], targets.map((t) => [t.target, t.value, t.met ? 'yes' : 'NO']));
  console.log(`wall time ${wallS.toFixed(0)} s`);

  const out = {
    date: new Date().toISOString(),
    commit: (() => { try { return require('child_process').execSync('git rev-parse --short HEAD', { cwd: repoRoot, encoding: 'utf8' }).trim(); } catch { return null; } })(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, load: os.loadavg() },
    settings: { quick, epochs: EPOCHS, window: WINDOW, trainShare: TRAIN_SHARE, smoothing: SMOOTHING, threshold: 'dynamic on sqrt(scores), 5 passes, pruning 0.13', series: files.length, threads: 1 },
    wallSeconds: wallS,
    methods: summary,
    targets,
  };
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, save ? 'nab.json' : 'nab-latest.json'), JSON.stringify(out, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
