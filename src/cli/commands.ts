// nadir fit / score / eval
import * as fs from 'fs';
import * as path from 'path';
import { once } from 'events';
import { Detector, loadDetector } from '../detectors/base';
import { Matrix } from '../data/matrix';
import { NadirError } from '../errors';
import { FlagSpec, UserError, helpText, intFlag, list, parseArgs } from './args';
import { TableReader } from './data';
import { DetectorEntry, availableDetectors, createDetector, findDetector } from './registry';
import { Progress, bar } from './progress';
import { f32, fmtRate, fmtSeconds, quality } from './analysis';

export const DATA_FLAGS: Record<string, FlagSpec> = {
  label: { type: 'string', arg: 'column', help: "label column, excluded from the features (default: a column named 'label' if present)" },
  noLabel: { type: 'boolean', help: "no label column: a column named 'label' is a feature" },
  columns: { type: 'string', arg: 'a,b,...', help: 'feature columns to use (default: all but the label)' },
  format: { type: 'string', arg: 'csv|tsv|jsonl|arrow', help: 'input format (default: from the file extension: .tsv, .jsonl, .arrow/.arrows/.feather; CSV otherwise)' },
  noHeader: { type: 'boolean', help: 'the CSV has no header line (columns are named c0, c1, ...)' },
};
const HELP: FlagSpec = { type: 'boolean', short: 'h', help: 'show this help' };
const QUIET: FlagSpec = { type: 'boolean', short: 'q', help: 'print nothing but errors' };

export interface CommandOut {
  stdout: NodeJS.WritableStream;
}

function needPositionals(cmd: string, got: string[], names: string[]): void {
  if (got.length < names.length) throw new UserError(`'nadir ${cmd}' needs ${names.map((n) => `<${n}>`).join(' ')} (see 'nadir ${cmd} --help')`, 2);
  if (got.length > names.length) throw new UserError(`unexpected argument '${got[names.length]}' for 'nadir ${cmd}' (see 'nadir ${cmd} --help')`, 2);
}

function labelOpt(flags: Record<string, string | boolean | undefined>): string | false | undefined {
  if (flags.noLabel) return false;
  return typeof flags.label === 'string' ? flags.label : undefined;
}

/** Loads a model file; every failure is one line naming the file. */
export function loadModel(file: string): Detector {
  if (!fs.existsSync(file)) throw new UserError(`cannot read model '${file}': no such file`);
  try {
    return loadDetector(file);
  } catch (e) {
    if (e instanceof NadirError) throw new UserError(e.message.includes(file) ? e.message : `cannot load the model '${file}': ${e.message}`);
    throw e;
  }
}

/** " by <method>" when the detector says how its threshold was chosen. */
function thresholdHow(det: Detector): string {
  const info = (det as unknown as { thresholdInfo?: { method?: string } }).thresholdInfo;
  return info && typeof info.method === 'string' ? ` by ${info.method}` : '';
}

function checkWritable(file: string): void {
  const dir = path.dirname(path.resolve(file));
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new UserError(`cannot write '${file}': directory '${dir}' does not exist`);
  }
  if (!st.isDirectory()) throw new UserError(`cannot write '${file}': '${dir}' is not a directory`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UserError(`cannot write '${file}': it is a directory`);
}

/**
 * Fits a detector with a progress line on a terminal: an epoch bar for neural detectors, a
 * spinner-free "fitting ..." line for the rest. Ctrl-C cancels neural training cleanly.
 */
export async function fitWithProgress(entry: DetectorEntry, det: Detector, data: { X: Matrix; columns: string[] }, progress: Progress): Promise<number> {
  const t0 = process.hrtime.bigint();
  const what = `${entry.name} on ${data.X.rows} rows x ${data.X.cols} features`;
  progress.update(`fitting ${what} ...`, true);
  const input = { X: data.X, columns: data.columns };
  try {
    if (entry.neural && 'history' in det) {
      const total = Number((det.config as { epochs?: number }).epochs ?? 100);
      const ac = new AbortController();
      const onInt = () => ac.abort();
      process.once('SIGINT', onInt);
      try {
        await (det as unknown as { fit(x: unknown, hooks: unknown): Promise<unknown> }).fit(input, {
          signal: ac.signal,
          onEpoch: (e: { epoch: number; loss: number; valLoss: number }) => {
            const val = Number.isFinite(e.valLoss) ? `  val ${e.valLoss.toPrecision(4)}` : '';
            progress.update(`fitting ${entry.name} ${bar(e.epoch / total)} epoch ${e.epoch}/${total}  loss ${e.loss.toPrecision(4)}${val}`);
          },
        });
      } catch (e) {
        if (ac.signal.aborted) throw new UserError('training cancelled');
        throw e;
      } finally {
        process.removeListener('SIGINT', onInt);
      }
    } else {
      await det.fit(input);
    }
  } finally {
    progress.clear();
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

// ---------------------------------------------------------------- fit

const FIT_FLAGS: Record<string, FlagSpec> = {
  detector: { type: 'string', short: 'd', arg: 'name', help: 'detector to fit (see the list below)' },
  output: { type: 'string', short: 'o', arg: 'model.nadir', help: 'model file to write' },
  ...DATA_FLAGS,
  options: { type: 'string', arg: 'json', help: 'detector options as a JSON object (merged under --<option> flags)' },
  quiet: QUIET,
  help: HELP,
};

export function fitHelp(): string {
  const names = availableDetectors().map((d) => d.name);
  return helpText(
    'nadir fit <data> --detector <name> [--<option> <value> ...] -o <model.nadir>',
    'Fits a detector on mostly-normal data (CSV, TSV, JSON lines or Arrow IPC) and saves the model.',
    FIT_FLAGS,
    `Detectors: ${names.join(', ') || '(none built)'}\n` +
      'Detector options go as flags in camelCase or kebab-case, e.g. --contamination 0.05 --seed 7 --threads 1,\n' +
      '--trees 200, --hidden-layers 64,32 (a one-element list: --hidden-layers 16,). Unknown options are errors.\n' +
      'Hybrids take their parts by name: --detector cascade --stages isolation-forest,autoencoder;\n' +
      '--detector ensemble --members isolation-forest,pca (parts get the hybrid\'s --seed and --threads).\n' +
      'An ONNX model trained elsewhere: --detector onnx --model m.onnx --score output|reconstruction\n' +
      '[--model-output name] [--model-input name] (fit only calibrates the threshold and normalize).',
  );
}

export async function fitCommand(argv: string[], out: CommandOut): Promise<void> {
  const { flags, positionals, extra } = parseArgs('fit', argv, FIT_FLAGS, true);
  if (flags.help) return void out.stdout.write(fitHelp() + '\n');
  needPositionals('fit', positionals, ['data']);
  if (typeof flags.detector !== 'string') throw new UserError(`'nadir fit' needs --detector <name>; available: ${availableDetectors().map((d) => d.name).join(', ')}`, 2);
  if (typeof flags.output !== 'string') throw new UserError(`'nadir fit' needs -o <model.nadir>, the model file to write`, 2);
  const entry = findDetector(flags.detector);
  let base: Record<string, unknown> = {};
  if (typeof flags.options === 'string') {
    try {
      base = JSON.parse(flags.options);
    } catch {
      throw new UserError(`--options is not valid JSON: ${flags.options}`);
    }
    if (base === null || typeof base !== 'object' || Array.isArray(base)) throw new UserError('--options must be a JSON object');
  }
  const det = createDetector(entry, { ...base, ...extra });
  checkWritable(flags.output);
  const reader = new TableReader(positionals[0], {
    format: flags.format as string | undefined,
    label: labelOpt(flags),
    columns: list(flags.columns),
    allowMissing: det.config.impute !== undefined,
    header: flags.noHeader ? false : true,
  });
  const data = await reader.readAll();
  const progress = Progress.forStderr(flags.quiet === true);
  const seconds = await fitWithProgress(entry, det, data, progress);
  try {
    det.save(flags.output);
  } catch (e) {
    throw new UserError(`cannot write '${flags.output}': ${(e as Error).message}`);
  }
  if (!flags.quiet)
    out.stdout.write(
      `${flags.output}: ${det.type} fitted on ${data.X.rows} rows x ${data.X.cols} features in ${fmtSeconds(seconds)}` +
        ` (threshold ${f32(det.threshold)}${thresholdHow(det)}, seed ${det.seed}${reader.labelColumn ? `, label column '${reader.labelColumn}' left out` : ''})\n`,
    );
}

// ---------------------------------------------------------------- score

const SCORE_FLAGS: Record<string, FlagSpec> = {
  output: { type: 'string', short: 'o', arg: 'out.csv', help: 'write here (CSV, or JSON lines for .jsonl) instead of stdout; written only on success' },
  predict: { type: 'boolean', short: 'p', help: 'add an anomaly column: 1 where score > the model threshold' },
  normalize: { type: 'boolean', help: 'add a normalized column: the score mapped to [0, 1] by the training-score distribution' },
  batchSize: { type: 'string', arg: 'rows', help: 'rows scored per batch (default 8192); memory stays constant in the file size' },
  ...DATA_FLAGS,
  quiet: QUIET,
  help: HELP,
};

export function scoreHelp(): string {
  return helpText(
    'nadir score <model.nadir> <data> [-o out.csv] [--predict]',
    'Scores every row of <data> (or - for stdin) with a saved model, streaming: rows are read in chunks and\n' +
      'scored in batches, in input order, so files larger than memory work. Higher score = more anomalous.\n' +
      "Columns are picked by the names the model was fitted on when it knows them; a 'label' column is ignored.",
    SCORE_FLAGS,
  );
}

/** Writes to a temp file beside the target and renames on success, so no partial output is left. */
class AtomicOutput {
  readonly stream: NodeJS.WritableStream;
  private readonly tmp?: string;
  private readonly onSignal?: () => void;
  constructor(readonly target: string | undefined, stdout: NodeJS.WritableStream) {
    if (target === undefined || target === '-') {
      this.stream = stdout;
      return;
    }
    checkWritable(target);
    this.tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
    const ws = fs.createWriteStream(this.tmp);
    // Errors surface through write() / commit(); without a listener they would crash the process.
    ws.on('error', () => {});
    this.stream = ws;
    this.onSignal = () => {
      this.discard();
      process.exit(130);
    };
    process.once('SIGINT', this.onSignal);
  }
  async write(s: string): Promise<void> {
    try {
      if (!this.stream.write(s)) await once(this.stream as unknown as import('events').EventEmitter, 'drain');
    } catch (e) {
      throw new UserError(`cannot write '${this.target ?? 'stdout'}': ${(e as Error).message}`);
    }
  }
  async commit(): Promise<void> {
    if (!this.tmp) return;
    const ws = this.stream as fs.WriteStream;
    await new Promise<void>((resolve, reject) => {
      ws.once('error', (e) => reject(new UserError(`cannot write '${this.target}': ${e.message}`)));
      ws.end(() => resolve());
    });
    fs.renameSync(this.tmp, this.target!);
    process.removeListener('SIGINT', this.onSignal!);
  }
  discard(): void {
    if (!this.tmp) return;
    (this.stream as fs.WriteStream).destroy();
    try {
      fs.unlinkSync(this.tmp);
    } catch {
      /* already gone */
    }
    process.removeListener('SIGINT', this.onSignal!);
  }
}

export async function scoreCommand(argv: string[], out: CommandOut): Promise<void> {
  const { flags, positionals } = parseArgs('score', argv, SCORE_FLAGS);
  if (flags.help) return void out.stdout.write(scoreHelp() + '\n');
  needPositionals('score', positionals, ['model.nadir', 'data']);
  const [modelFile, dataFile] = positionals;
  const det = loadModel(modelFile);
  const target = flags.output as string | undefined;
  if (target && target !== '-' && dataFile !== '-' && path.resolve(target) === path.resolve(dataFile))
    throw new UserError(`the output file '${target}' is the input file; write somewhere else`);
  const batchRows = intFlag('batchSize', flags.batchSize, 8192);
  const reader = new TableReader(dataFile, {
    format: flags.format as string | undefined,
    label: labelOpt(flags),
    columns: list(flags.columns),
    modelNames: list(flags.columns) ? undefined : det.featureNames,
    nFeatures: det.nFeatures,
    allowMissing: det.config.impute !== undefined,
    header: flags.noHeader ? false : true,
  });
  const jsonl = target !== undefined && /\.(jsonl|ndjson)$/i.test(target);
  const sink = new AtomicOutput(target, out.stdout);
  const t0 = process.hrtime.bigint();
  let rows = 0;
  let flagged = 0;
  try {
    if (!jsonl) await sink.write(['score', flags.normalize ? 'normalized' : '', flags.predict ? 'anomaly' : ''].filter(Boolean).join(',') + '\n');
    const t = det.threshold;
    // Read the next batch while this one is scored: one batch in flight keeps memory constant.
    let pending: Promise<string> | undefined;
    // A time-series model carries its state from one batch to the next (rows are time steps), so
    // a file scores exactly as one series would, whatever the batch size.
    const sequential = det.sequentialScorer();
    const scoreBatch = async (X: Matrix): Promise<Float32Array> => (sequential ? sequential(X) : det.score(X));
    const render = async (X: Matrix): Promise<string> => {
      const s = await scoreBatch(X);
      const nrm = flags.normalize ? det.normalize(s) : undefined;
      const parts: string[] = new Array(s.length);
      for (let i = 0; i < s.length; i++) {
        const a = s[i] > t ? 1 : 0;
        flagged += a;
        if (jsonl) {
          parts[i] = `{"score":${f32(s[i])}${nrm ? `,"normalized":${f32(nrm[i])}` : ''}${flags.predict ? `,"anomaly":${a}` : ''}}`;
        } else {
          let line = f32(s[i]);
          if (nrm) line += ',' + f32(nrm[i]);
          if (flags.predict) line += a ? ',1' : ',0';
          parts[i] = line;
        }
      }
      return parts.join('\n') + '\n';
    };
    for await (const b of reader.batches(batchRows)) {
      const next = render(b.X);
      next.catch(() => {}); // awaited below; avoid an unhandled rejection while the previous write waits
      if (pending) await sink.write(await pending);
      pending = next;
      rows += b.X.rows;
    }
    if (pending) await sink.write(await pending);
    await sink.commit();
  } catch (e) {
    sink.discard();
    throw e;
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (!flags.quiet && target && target !== '-')
    out.stdout.write(`${target}: ${rows} rows scored in ${fmtSeconds(secs)} (${fmtRate(rows / secs)} rows/s), ${flagged} above the threshold ${f32(det.threshold)}\n`);
}

// ---------------------------------------------------------------- eval

const EVAL_FLAGS: Record<string, FlagSpec> = {
  label: { type: 'string', arg: 'column', help: "label column: 1 (or any value > 0) = anomaly, 0 = normal (default 'label')" },
  columns: DATA_FLAGS.columns,
  format: DATA_FLAGS.format,
  noHeader: DATA_FLAGS.noHeader,
  json: { type: 'boolean', help: 'print the numbers as JSON' },
  help: HELP,
};

export function evalHelp(): string {
  return helpText(
    'nadir eval <model.nadir> <data> [--label label]',
    'Scores labelled data with a saved model and prints ROC-AUC, average precision, and precision / recall\n' +
      "at the model's threshold. Reads the data in batches (memory: 12 bytes per row).",
    EVAL_FLAGS,
  );
}

export async function evalCommand(argv: string[], out: CommandOut): Promise<void> {
  const { flags, positionals } = parseArgs('eval', argv, EVAL_FLAGS);
  if (flags.help) return void out.stdout.write(evalHelp() + '\n');
  needPositionals('eval', positionals, ['model.nadir', 'data']);
  const [modelFile, dataFile] = positionals;
  const det = loadModel(modelFile);
  const reader = new TableReader(dataFile, {
    format: flags.format as string | undefined,
    label: typeof flags.label === 'string' ? flags.label : 'label',
    requireLabel: true,
    columns: list(flags.columns),
    modelNames: list(flags.columns) ? undefined : det.featureNames,
    nFeatures: det.nFeatures,
    allowMissing: det.config.impute !== undefined,
    header: flags.noHeader ? false : true,
  });
  let scores = new Float32Array(1 << 14);
  let labels = new Float64Array(1 << 14);
  let n = 0;
  for await (const b of reader.batches(8192)) {
    const s = await det.score(b.X);
    while (n + s.length > scores.length) {
      const s2 = new Float32Array(scores.length * 2);
      s2.set(scores);
      scores = s2;
      const l2 = new Float64Array(labels.length * 2);
      l2.set(labels);
      labels = l2;
    }
    scores.set(s, n);
    labels.set(b.labels!, n);
    n += s.length;
  }
  scores = scores.subarray(0, n);
  labels = labels.subarray(0, n);
  let q;
  try {
    q = quality(scores, labels, det.threshold);
  } catch (e) {
    if (e instanceof RangeError) throw new UserError(`cannot evaluate: ${e.message}; the label column '${reader.labelColumn}' must hold both`);
    throw e;
  }
  const t = q.atThreshold;
  if (flags.json) {
    const { curves: _c, ...rest } = q;
    out.stdout.write(JSON.stringify({ model: modelFile, type: det.type, data: dataFile, rows: n, ...rest }, null, 2) + '\n');
    return;
  }
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  out.stdout.write(
    [
      `model      ${modelFile}: ${det.type}, ${det.nFeatures} features`,
      `data       ${dataFile}: ${n} rows, ${q.anomalies} labelled anomalies (${pct(q.anomalies / n)})`,
      `ROC-AUC    ${q.rocAuc.toFixed(4)}`,
      `AP         ${q.ap.toFixed(4)}  (average precision; a random ranking scores ${(q.anomalies / n).toFixed(4)})`,
      `threshold  ${f32(t.threshold)}${thresholdHow(det)}: flags ${t.flagged} rows (${pct(t.flagged / n)})`,
      `           precision ${t.precision.toFixed(4)}  recall ${t.recall.toFixed(4)}  F1 ${t.f1.toFixed(4)}  (${t.tp} true, ${t.fp} false alarms, ${t.fn} missed)`,
    ].join('\n') + '\n',
  );
}
