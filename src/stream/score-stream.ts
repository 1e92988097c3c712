// Streaming scores: records in, records with score and anomaly out, micro-batched with a bound
// on the latency each record waits for its batch.
import { Readable, Transform, TransformCallback, pipeline } from 'stream';
import type { Detector } from '../detectors/base';
import { Matrix } from '../data/matrix';
import { DataError, OptionError } from '../errors';
import { checkOptionNames, optInt, optNumber } from '../options';

/** A record: an object keyed by feature name, or the feature values in fit order. */
export type StreamInput = Record<string, unknown> | ArrayLike<number | string>;

/** Output of the stream: the input record's fields (or `values` for array input) plus the result. */
export interface ScoredRecord {
  [field: string]: unknown;
  /** Raw score, higher = more anomalous. */
  score: number;
  /** score > detector.threshold */
  anomaly: boolean;
}

export interface ScoreStreamOptions {
  /** Rows scored together. Default 256. */
  batchSize?: number;
  /** Longest time a record waits for its batch to fill before a partial batch is scored; 0 = at the end of the current event-loop turn. Default 5. */
  maxDelayMs?: number;
  /** Feature names to read from record objects, in fit order. Default: the detector's `featureNames`. */
  columns?: readonly string[];
  /** Batches of at most this many rows are scored with `scoreSync` (lower latency, no thread hop); larger ones with `score` off the main thread. Default 32. */
  syncRows?: number;
  /** Records buffered on each side of the stream before back-pressure applies. Default 16. */
  highWaterMark?: number;
}

const OWNER = 'scoreStream';
const KNOWN = ['batchSize', 'maxDelayMs', 'columns', 'syncRows', 'highWaterMark'];

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return `'${v.length > 40 ? v.slice(0, 40) + '...' : v}'`;
  if (typeof v === 'number') return String(v);
  return typeof v;
}

/**
 * Transform stream (object mode) that scores records with a fitted detector, in input order.
 * Rows collect into a batch that is scored when it holds `batchSize` rows or when its first row
 * has waited `maxDelayMs`. One batch is scored while the next fills; beyond that, writes wait
 * (back-pressure), and they also wait while the readable side holds `highWaterMark` records.
 */
export class ScoreStream extends Transform {
  private readonly det: Detector;
  private readonly nf: number;
  private readonly names?: readonly string[];
  private readonly imputes: boolean;
  private readonly batchSize: number;
  private readonly maxDelayMs: number;
  private readonly syncRows: number;
  /** Set for detectors whose scores depend on earlier rows: batches are then steps of one sequence. */
  private readonly sequential?: (m: Matrix) => Float32Array;
  private batch: Float32Array;
  private items: StreamInput[];
  private timer?: NodeJS.Timeout | NodeJS.Immediate;
  private chain: Promise<void>;
  private held?: () => void;
  private seen: number;

  constructor(detector: Detector, options: ScoreStreamOptions = {}) {
    checkOptionNames(OWNER, options, KNOWN);
    const hwm = optInt(OWNER, 'highWaterMark', options.highWaterMark, 16, 1, 1 << 20);
    super({ objectMode: true, highWaterMark: hwm });
    this.det = detector;
    this.nf = detector.nFeatures; // throws NotFittedError before any record is written
    this.batchSize = optInt(OWNER, 'batchSize', options.batchSize, 256, 1, 1 << 20);
    this.maxDelayMs = optNumber(OWNER, 'maxDelayMs', options.maxDelayMs, 5, 0, 2 ** 31 - 1);
    this.syncRows = optInt(OWNER, 'syncRows', options.syncRows, 32, 0, 1 << 20);
    const names = options.columns ?? detector.featureNames;
    if (names !== undefined) {
      if (!Array.isArray(names) || names.some((n) => typeof n !== 'string'))
        throw new OptionError(`Expected an array of column names for ${OWNER} option 'columns' but received ${describe(names)}`);
      if (names.length !== this.nf)
        throw new OptionError(`${OWNER} option 'columns' names ${names.length} columns but this ${detector.type} was fitted on ${this.nf} features`);
    }
    this.names = names;
    this.imputes = detector.config.impute !== undefined;
    this.sequential = detector.sequentialScorer();
    this.batch = new Float32Array(this.batchSize * this.nf);
    this.items = [];
    this.chain = Promise.resolve();
    this.seen = 0;
  }

  _transform(record: StreamInput, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.fillRow(record, this.items.length);
    } catch (e) {
      cb(e as Error);
      return;
    }
    this.seen++;
    this.items.push(record);
    if (this.items.length >= this.batchSize) {
      // Double buffering: accept the next batch's rows while this one is scored, but no more.
      const previous = this.chain;
      this.flushBatch();
      previous.then(() => this.proceed(cb));
    } else {
      if (this.items.length === 1) this.armTimer();
      this.proceed(cb);
    }
  }

  _flush(cb: TransformCallback): void {
    this.flushBatch();
    this.chain.then(() => cb());
  }

  _read(size: number): void {
    const held = this.held;
    if (held) {
      this.held = undefined;
      // After the read that called us has taken its record: run now, the next write would still
      // see a full buffer, be held again, and wait for a _read that Node only makes after a push.
      process.nextTick(held);
    }
    super._read(size);
  }

  _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.clearTimer();
    this.items = [];
    cb(err);
  }

  /** Accepts the next write now, or once the reader has taken records off a full readable buffer. */
  private proceed(cb: () => void): void {
    if (this.destroyed) return;
    if (this.readableLength >= this.readableHighWaterMark) this.held = cb;
    else cb();
  }

  private armTimer(): void {
    const flush = () => {
      this.timer = undefined;
      this.flushBatch();
    };
    this.timer = this.maxDelayMs === 0 ? setImmediate(flush) : setTimeout(flush, this.maxDelayMs);
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    if (this.maxDelayMs === 0) clearImmediate(this.timer as NodeJS.Immediate);
    else clearTimeout(this.timer as NodeJS.Timeout);
    this.timer = undefined;
  }

  private flushBatch(): void {
    this.clearTimer();
    const rows = this.items.length;
    if (rows === 0) return;
    const items = this.items;
    const data = this.batch.subarray(0, rows * this.nf);
    this.items = [];
    // A fresh buffer: the previous one may still be read by native code off the main thread.
    this.batch = new Float32Array(this.batchSize * this.nf);
    this.chain = this.chain.then(() => this.scoreBatch(items, data, rows));
  }

  private async scoreBatch(items: StreamInput[], data: Float32Array, rows: number): Promise<void> {
    if (this.destroyed) return;
    try {
      const m = new Matrix(data, rows, this.nf);
      const scores = this.sequential ? this.sequential(m) : rows <= this.syncRows ? this.det.scoreSync(m) : await this.det.score(m);
      if (this.destroyed) return;
      const t = this.det.threshold;
      for (let k = 0; k < rows; k++) {
        const rec = items[k];
        const s = scores[k];
        const out: ScoredRecord = isRow(rec) ? { values: rec, score: s, anomaly: s > t } : { ...rec, score: s, anomaly: s > t };
        this.push(out);
      }
    } catch (e) {
      this.destroy(e as Error);
    }
  }

  private fillRow(record: StreamInput, i: number): void {
    const nf = this.nf;
    const b = this.batch;
    const off = i * nf;
    const index = this.seen;
    if (isRow(record)) {
      if (record.length !== nf) throw new DataError(`record ${index} has ${record.length} values but this ${this.det.type} was fitted on ${nf} features`);
      for (let j = 0; j < nf; j++) b[off + j] = this.value(record[j], index, this.names ? this.names[j] : `#${j}`);
    } else if (record !== null && typeof record === 'object') {
      const names = this.names;
      if (!names)
        throw new DataError(
          `record ${index} is an object, but this ${this.det.type} has no feature names (it was fitted on a bare matrix): ` +
            `write arrays of ${nf} values, pass { columns } to scoreStream, or fit with { X, columns }`,
        );
      const rec = record as Record<string, unknown>;
      for (let j = 0; j < nf; j++) b[off + j] = this.value(rec[names[j]], index, names[j]);
    } else {
      throw new DataError(`record ${index} is ${describe(record)}; expected an object keyed by feature name or an array of ${nf} numbers`);
    }
  }

  private value(v: unknown, index: number, name: string): number {
    let x: number;
    if (typeof v === 'number') x = v;
    else if (v === undefined || v === null || v === '') x = NaN;
    else if (typeof v === 'string') {
      x = Number(v);
      if (Number.isNaN(x) && v.trim() !== 'NaN') throw new DataError(`record ${index}: feature '${name}' is ${describe(v)}, not a number`);
    } else throw new DataError(`record ${index}: feature '${name}' is ${describe(v)}, not a number`);
    if (!this.imputes && !Number.isFinite(x))
      throw new DataError(
        `record ${index}: feature '${name}' is ${v === undefined ? 'missing' : describe(v)}; ` +
          `send finite numbers or fit the detector with the option impute: 'mean' | 'median' | 'zero'`,
      );
    return x;
  }
}

function isRow(r: unknown): r is ArrayLike<number | string> {
  return Array.isArray(r) || (ArrayBuffer.isView(r) && !(r instanceof DataView));
}

/** Scores any (async) iterable of records through a ScoreStream; consume with `for await`. */
export function scoreIterable(
  detector: Detector,
  source: Iterable<StreamInput> | AsyncIterable<StreamInput>,
  options?: ScoreStreamOptions,
): AsyncIterable<ScoredRecord> {
  const s = source as { [Symbol.iterator]?: unknown; [Symbol.asyncIterator]?: unknown };
  if (s === null || typeof s !== 'object' || (typeof s[Symbol.iterator] !== 'function' && typeof s[Symbol.asyncIterator] !== 'function'))
    throw new DataError(`Expected an iterable or async iterable of records for scoreIterable but received ${describe(source)}`);
  const stream = new ScoreStream(detector, options);
  // pipeline ends the source's iterator when the consumer stops early and forwards its errors.
  pipeline(Readable.from(source as Iterable<unknown>, { objectMode: true, highWaterMark: stream.readableHighWaterMark }), stream, () => {});
  return stream as AsyncIterable<ScoredRecord>;
}
