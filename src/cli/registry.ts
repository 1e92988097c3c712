// Detectors the CLI can build, by name: every Detector subclass exported from the package, so a
// detector appears here as soon as it is exported from src/index.ts.
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
};
/** Other names users type. */
const EXTRA_NAMES: Record<string, string> = { iforest: 'isolation-forest', 'auto-encoder': 'autoencoder', 'variational-auto-encoder': 'vae' };

/** Exported, but not buildable from options alone (they wrap a model or other detectors). */
const NOT_STANDALONE = new Set(['Detector', 'OnnxDetector', 'NeuralDetector']);

export interface DetectorEntry {
  name: string;
  className: string;
  ctor: new (options?: any) => Detector;
  /** Trains by epochs (onEpoch progress). */
  neural: boolean;
  /** Combines other detectors (built by the CLI from `--detectors` style options). */
  hybrid: boolean;
}

const NEURAL = /autoencoder|vae|neural/i;

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

/** Builds a detector; option mistakes become one-line user errors naming the flag. */
export function createDetector(entry: DetectorEntry, options: Record<string, unknown>): Detector {
  try {
    return new entry.ctor(options);
  } catch (e) {
    if (e instanceof NadirError) throw new UserError(e.message);
    throw e;
  }
}
