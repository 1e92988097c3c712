// Detectors the CLI can build, by name: every Detector subclass exported from the package, so a
// detector appears here as soon as it is exported from src/index.ts.
import * as fs from 'fs';
import * as api from '../index';
import { Detector } from '../detectors/base';
import { NadirError } from '../errors';
import { UserError, kebab } from './args';

/** Short names for classes whose kebab-case name is long or unusual. */
const ALIASES: Record<string, string> = {
  IsolationForest: 'isolation-forest',
  VariationalAutoEncoder: 'vae',
  AutoEncoder: 'autoencoder',
  ECOD: 'ecod',
  PCA: 'pca',
  GanDetector: 'gan',
};
/** Other names users type. */
const EXTRA_NAMES: Record<string, string> = { iforest: 'isolation-forest', 'auto-encoder': 'autoencoder', 'variational-auto-encoder': 'vae' };

/** Exported, but not buildable from options alone (they wrap a model or other detectors). */
const NOT_STANDALONE = new Set(['Detector', 'OnnxDetector', 'NeuralDetector', 'SequenceForecaster']);

export interface DetectorEntry {
  name: string;
  className: string;
  ctor: new (options?: any) => Detector;
  /** Trains by epochs (onEpoch progress). */
  neural: boolean;
  /** Combines other detectors (built by the CLI from `--detectors` style options). */
  hybrid: boolean;
  /** Wraps an external ONNX model given by `--model <file.onnx>`. */
  onnx?: boolean;
}

const NEURAL = /autoencoder|vae|neural|gan/i;

let cache: DetectorEntry[] | undefined;

export function availableDetectors(): DetectorEntry[] {
  if (cache) return cache;
  const out: DetectorEntry[] = [];
  for (const [className, v] of Object.entries(api as Record<string, unknown>)) {
    if (typeof v !== 'function' || NOT_STANDALONE.has(className)) continue;
    if (!(v.prototype instanceof Detector)) continue;
    const name = ALIASES[className] ?? kebab(className);
    out.push({
      name,
      className,
      ctor: v as new (o?: any) => Detector,
      neural: NEURAL.test(className),
      hybrid: /ensemble|cascade/i.test(className),
    });
  }
  const Onnx = (api as Record<string, unknown>).OnnxDetector;
  if (typeof Onnx === 'function') out.push({ name: 'onnx', className: 'OnnxDetector', ctor: Onnx as new (o?: any) => Detector, neural: false, hybrid: false, onnx: true });
  cache = out;
  return out;
}

export function findDetector(name: string): DetectorEntry {
  const all = availableDetectors();
  const want = EXTRA_NAMES[name.toLowerCase()] ?? name.toLowerCase();
  const hit = all.find((d) => d.name === want || d.className.toLowerCase() === want);
  if (!hit) {
    const names = all.map((d) => d.name).join(', ') || '(none built)';
    throw new UserError(`unknown detector '${name}'; available: ${names}`);
  }
  return hit;
}

/** The default parts of a hybrid: the first available classical and neural detectors. */
export function defaultHybridParts(): string[] {
  const have = new Set(availableDetectors().map((d) => d.name));
  const classical = ['isolation-forest', 'ecod', 'mahalanobis', 'pca'].find((n) => have.has(n));
  const neural = ['autoencoder', 'vae'].find((n) => have.has(n));
  const parts = [classical, neural].filter((n): n is string => n !== undefined);
  if (parts.length < 2) parts.push(...['pca', 'mahalanobis', 'ecod', 'isolation-forest'].filter((n) => have.has(n) && !parts.includes(n)).slice(0, 2 - parts.length));
  return parts;
}

/** The option naming a hybrid's parts: Cascade takes `stages`, Ensemble `members`. */
export const partsKey = (entry: DetectorEntry) => (/cascade/i.test(entry.className) ? 'stages' : 'members');

/**
 * Builds a detector; option mistakes become one-line user errors. A hybrid's parts are given by
 * name (`--stages isolation-forest,autoencoder`) and built with the hybrid's seed and threads.
 */
export function createDetector(entry: DetectorEntry, options: Record<string, unknown>): Detector {
  let opts = options;
  if (entry.hybrid) {
    const key = partsKey(entry);
    let parts = opts[key] ?? defaultHybridParts();
    if (typeof parts === 'string') parts = parts.split(',').map((p) => p.trim()).filter(Boolean);
    if (!Array.isArray(parts) || parts.some((p) => typeof p !== 'string'))
      throw new UserError(`--${key} takes detector names, e.g. --${key} ${defaultHybridParts().join(',') || 'isolation-forest,autoencoder'}`);
    const common: Record<string, unknown> = {};
    for (const k of ['seed', 'threads']) if (opts[k] !== undefined) common[k] = opts[k];
    const built = (parts as string[]).map((n) => {
      const e = findDetector(n);
      if (e.hybrid) throw new UserError(`--${key}: '${n}' is itself a ${e.className}; name plain detectors`);
      return createDetector(e, common);
    });
    opts = { ...opts, [key]: built };
  }
  try {
    if (entry.onnx) {
      // `fit` only calibrates an ONNX model trained elsewhere: --model file.onnx --score output|reconstruction.
      // -o / --output is the CLI's output file, so the model's input and output names go as
      // --model-input / --model-output.
      const { model, modelInput, modelOutput, ...rest } = opts;
      if (modelInput !== undefined) rest.input = modelInput;
      if (modelOutput !== undefined) rest.output = modelOutput;
      if (typeof model !== 'string') throw new UserError(`--detector onnx needs --model <file.onnx> (and --score output|reconstruction)`);
      if (!fs.existsSync(model)) throw new UserError(`cannot read ONNX model '${model}': no such file`);
      return (entry.ctor as unknown as { load(p: string, o: object): Detector }).load(model, rest);
    }
    return new entry.ctor(opts);
  } catch (e) {
    if (e instanceof NadirError) throw new UserError(e.message);
    throw e;
  }
}

/** Options as JSON-safe values: detectors inside (a hybrid's parts) become their type names. */
export function plainOptions(config: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (v instanceof Detector) out[k] = v.type;
    else if (Array.isArray(v) && v.some((x) => x instanceof Detector)) out[k] = v.map((x) => (x instanceof Detector ? x.type : x));
    else if (typeof v !== 'function') out[k] = v;
  }
  return out;
}
