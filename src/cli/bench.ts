// nadir bench / nadir demo: fit and score several detectors on one dataset, side by side.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Matrix } from '../data/matrix';
import { simdInfo } from '../kernels';
import { FlagSpec, UserError, helpText, intFlag, list, parseArgs } from './args';
import { TableReader } from './data';
import { DATA_FLAGS, CommandOut, fitWithProgress } from './commands';
import { DetectorEntry, availableDetectors, createDetector, defaultHybridParts, findDetector, partsKey, plainOptions } from './registry';
import { Progress } from './progress';
import { Curves, ThresholdStats, f32, fmtRate, fmtSeconds, fmtUs, measureSpeed, quality, table } from './analysis';
import { writeReport } from './report';

export interface BenchRow {
  detector: string;
  type: string;
  options: Record<string, unknown>;
  fitSeconds: number;
  rowsPerSec: number;
  p50Us: number;
  p99Us: number;
  threshold: number;
  rocAuc?: number;
  ap?: number;
  atThreshold?: ThresholdStats;
  curves?: Curves;
}

export interface BenchReport {
  nadir: string;
  date: string;
  dataset: { file: string; rows: number; features: number; anomalies?: number };
  machine: { cpus: number; cpuModel: string; simd: string; node: string };
  threads: number;
  results: BenchRow[];
}

export function version(): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

export interface BenchPlan {
  entry: DetectorEntry;
  options: Record<string, unknown>;
}

/** Fits, times and (with labels) evaluates each planned detector; prints a line per detector as it goes. */
export async function runBench(
  data: { X: Matrix; labels?: Float64Array; columns: string[] },
  file: string,
  plans: BenchPlan[],
  threads: number,
  progress: Progress,
  log: (line: string) => void,
): Promise<BenchReport> {
  const results: BenchRow[] = [];
  for (const { entry, options } of plans) {
    const det = createDetector(entry, options);
    const fitSeconds = await fitWithProgress(entry, det, data, progress);
    progress.update(`timing ${entry.name} ...`, true);
    const speed = await measureSpeed(det, data.X);
    const scores = await det.score(data.X);
    progress.clear();
    const row: BenchRow = { detector: entry.name, type: det.type, options: plainOptions(det.config), fitSeconds, ...speed, threshold: det.threshold };
    if (data.labels) {
      const q = quality(scores, data.labels, det.threshold);
      row.rocAuc = q.rocAuc;
      row.ap = q.ap;
      row.atThreshold = q.atThreshold;
      row.curves = q.curves;
    }
    results.push(row);
    log(`  ${entry.name}: fitted in ${fmtSeconds(fitSeconds)}${row.rocAuc !== undefined ? `, ROC-AUC ${row.rocAuc.toFixed(3)}` : ''}`);
  }
  let anomalies: number | undefined;
  if (data.labels) anomalies = data.labels.reduce((a, v) => a + (v > 0 ? 1 : 0), 0);
  return {
    nadir: version(),
    date: new Date().toISOString(),
    dataset: { file, rows: data.X.rows, features: data.X.cols, anomalies },
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', simd: simdInfo().active, node: process.version },
    threads,
    results,
  };
}

export function benchTable(r: BenchReport): string {
  const hasQ = r.results.some((x) => x.rocAuc !== undefined);
  const head = ['detector', 'fit', 'batch rows/s', '1-row p50', '1-row p99', ...(hasQ ? ['ROC-AUC', 'AP'] : [])];
  const rows = r.results.map((x) => [
    x.detector,
    fmtSeconds(x.fitSeconds),
    fmtRate(x.rowsPerSec),
    fmtUs(x.p50Us),
    fmtUs(x.p99Us),
    ...(hasQ ? [x.rocAuc?.toFixed(3) ?? '-', x.ap?.toFixed(3) ?? '-'] : []),
  ]);
  return table(head, rows);
}

const BENCH_FLAGS: Record<string, FlagSpec> = {
  detectors: { type: 'string', arg: 'a,b,...', help: 'detectors to compare (default: every available one)' },
  json: { type: 'string', arg: 'out.json', help: "write the results (with curves for 'nadir report') as JSON" },
  report: { type: 'string', arg: 'out.html', help: 'also write the HTML report' },
  threads: { type: 'string', arg: 'n', help: 'native threads per detector (default 1; 0 = all cores)' },
  seed: { type: 'string', arg: 'n', help: 'seed for every detector (default 42)' },
  ...DATA_FLAGS,
  quiet: { type: 'boolean', short: 'q', help: 'print only the table' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export function benchHelp(): string {
  return helpText(
    'nadir bench <data> [--label label] [--detectors a,b] [--json out.json]',
    'Fits each detector on <data> (unsupervised: the label column is left out of the features) and prints, side\n' +
      'by side: fit time, batch throughput (score on all rows), single-row scoreSync latency p50 / p99, and with a\n' +
      'label column ROC-AUC and average precision. Detector options: --<detector>.<option> <value>, e.g. --isolation-forest.trees 200.',
    BENCH_FLAGS,
    `Detectors: ${availableDetectors().map((d) => d.name).join(', ') || '(none built)'}`,
  );
}

/** `--isolation-forest.trees 200` style options, per detector. */
function perDetectorOptions(extra: Record<string, unknown>, names: string[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [k, v] of Object.entries(extra)) {
    const dot = k.indexOf('.');
    if (dot < 0) throw new UserError(`unknown option --${k} for 'nadir bench'; detector options go as --<detector>.<option> (see 'nadir bench --help')`, 2);
    const det = findDetector(k.slice(0, dot).replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).name;
    if (!names.includes(det)) throw new UserError(`--${k}: '${det}' is not one of the benchmarked detectors (${names.join(', ')})`, 2);
    (out[det] ??= {})[k.slice(dot + 1)] = v;
  }
  return out;
}

export async function benchCommand(argv: string[], out: CommandOut): Promise<void> {
  const { flags, positionals, extra } = parseArgs('bench', argv, BENCH_FLAGS, true);
  if (flags.help) return void out.stdout.write(benchHelp() + '\n');
  if (positionals.length !== 1) throw new UserError(`'nadir bench' needs one <data> file (see 'nadir bench --help')`, 2);
  const entries = list(flags.detectors)?.map(findDetector) ?? availableDetectors().filter((d) => !d.hybrid && !d.onnx);
  if (entries.length === 0) throw new UserError('no detectors are available in this build');
  const threads = intFlag('threads', flags.threads, 1, 0);
  const seed = intFlag('seed', flags.seed, 42, 0);
  const perDet = perDetectorOptions(extra, entries.map((e) => e.name));
  const reader = new TableReader(positionals[0], {
    format: flags.format as string | undefined,
    label: flags.noLabel ? false : typeof flags.label === 'string' ? flags.label : undefined,
    columns: list(flags.columns),
    header: flags.noHeader ? false : true,
  });
  const data = await reader.readAll();
  const quiet = flags.quiet === true;
  const log = (s: string) => {
    if (!quiet) process.stderr.write(s + '\n');
  };
  for (const e of entries.filter((x) => x.hybrid))
    log(`${e.name}: ${(perDet[e.name]?.[partsKey(e)] as string) ?? defaultHybridParts().join(', ')} (set with --${e.name}.${partsKey(e)} a,b)`);
  log(`${positionals[0]}: ${data.X.rows} rows x ${data.X.cols} features${reader.labelColumn ? `, label column '${reader.labelColumn}'` : ' (no label column: no ROC-AUC / AP)'}`);
  const plans = entries.map((entry) => ({ entry, options: { seed, threads, ...perDet[entry.name] } }));
  const report = await runBench(data, positionals[0], plans, threads, Progress.forStderr(quiet), log);
  out.stdout.write(benchTable(report) + '\n');
  if (typeof flags.json === 'string') {
    fs.writeFileSync(flags.json, JSON.stringify(report) + '\n');
    log(`wrote ${flags.json}`);
  }
  if (typeof flags.report === 'string') {
    writeReport(report, flags.report);
    log(`wrote ${flags.report}`);
  }
}

// ---------------------------------------------------------------- demo

const DEMO_FLAGS: Record<string, FlagSpec> = {
  data: { type: 'string', arg: 'cardio|thyroid|file', help: "dataset: a shipped one (default 'cardio') or a CSV with a 'label' column" },
  report: { type: 'string', arg: 'out.html', help: 'also write the HTML report' },
  json: { type: 'string', arg: 'out.json', help: 'also write the results as JSON' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export function demoHelp(): string {
  return helpText(
    'nadir demo [--data cardio|thyroid] [--report demo.html]',
    'Fits a classical detector, a neural one and a cascade of both (those built in this version) on a\n' +
      'labelled dataset shipped with nadir (Cardiotocography, ADBench), then compares accuracy and speed.',
    DEMO_FLAGS,
  );
}

/** The shipped datasets, found next to the package. */
export function shippedData(name: string): string {
  const file = path.join(__dirname, '..', '..', 'test', 'fixtures', `${name}.csv`);
  if (!fs.existsSync(file)) throw new UserError(`the shipped dataset '${name}' is missing from this installation (${file})`);
  return file;
}

export async function demoCommand(argv: string[], out: CommandOut): Promise<void> {
  const { flags } = parseArgs('demo', argv, DEMO_FLAGS);
  if (flags.help) return void out.stdout.write(demoHelp() + '\n');
  const dataArg = typeof flags.data === 'string' ? flags.data : 'cardio';
  const file = dataArg === 'cardio' || dataArg === 'thyroid' ? shippedData(dataArg) : dataArg;
  const reader = new TableReader(file, { label: 'label', requireLabel: true });
  const data = await reader.readAll();
  const have = new Map(availableDetectors().map((d) => [d.name, d]));
  const pick = (names: string[]) => names.map((n) => have.get(n)).find((d) => d !== undefined);
  const classical = pick(['isolation-forest', 'ecod', 'mahalanobis', 'pca']);
  const neural = pick(['autoencoder', 'vae']);
  const hybrid = pick(['cascade', 'ensemble']);
  const plans: BenchPlan[] = [];
  const seed = 42;
  if (classical) plans.push({ entry: classical, options: { seed, threads: 1 } });
  if (neural) plans.push({ entry: neural, options: { seed, threads: 1 } });
  if (hybrid && classical && neural) plans.push({ entry: hybrid, options: { seed, threads: 1, [partsKey(hybrid)]: [classical.name, neural.name].join(',') } });
  if (plans.length === 0) throw new UserError('no detectors are built in this version of nadir');
  const w = (s: string) => out.stdout.write(s + '\n');
  const name = path.basename(file);
  w(`nadir demo: ${name}, ${data.X.rows} rows x ${data.X.cols} features, ${data.labels!.reduce((a, v) => a + (v > 0 ? 1 : 0), 0)} labelled anomalies`);
  w(`Fitting ${plans.map((p) => p.entry.name).join(', ')} without the labels (unsupervised), then scoring every row.`);
  if (hybrid && classical && neural)
    w(
      hybrid.name === 'cascade'
        ? `The cascade scores every row with ${classical.name} and sends only the uncertain ones (near its threshold) on to ${neural.name}.`
        : `The ${hybrid.name} combines the calibrated scores of ${classical.name} and ${neural.name}.`,
    );
  w('');
  const missing = [!classical && 'classical detector', !neural && 'neural detector', !hybrid && 'cascade'].filter(Boolean);
  const report = await runBench(data, name, plans, 1, Progress.forStderr(false), (s) => w(s));
  w('');
  w(benchTable(report));
  w('');
  w('fit: training time; batch rows/s: detector.score on all rows (1 thread); 1-row p50/p99: detector.scoreSync latency;');
  w('ROC-AUC / AP: how well the scores rank the labelled anomalies (1.0 = perfectly).');
  const best = [...report.results].sort((a, b) => (b.rocAuc ?? 0) - (a.rocAuc ?? 0))[0];
  if (best) {
    const t = best.atThreshold!;
    w(`\nBest ranking: ${best.detector} (ROC-AUC ${best.rocAuc!.toFixed(3)}). At its threshold ${f32(best.threshold)} it flags ${t.flagged} rows: precision ${t.precision.toFixed(2)}, recall ${t.recall.toFixed(2)}.`);
  }
  if (missing.length) w(`(This build has no ${missing.join(' or ')} yet; the demo uses what is there.)`);
  const rel = path.relative(process.cwd(), file) || name;
  w(`\nTry next:\n  nadir fit ${rel} --detector ${plans[0].entry.name} -o model.nadir\n  nadir score model.nadir ${rel} --predict\n  nadir bench ${rel} --report report.html`);
  if (typeof flags.json === 'string') fs.writeFileSync(flags.json, JSON.stringify(report) + '\n');
  if (typeof flags.report === 'string') {
    writeReport(report, flags.report);
    w(`wrote ${flags.report}`);
  }
}
