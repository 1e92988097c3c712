import { OptionError } from './errors';

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
  return d[a.length][b.length];
}

/** Throws an OptionError for any key of `options` not in `known`, suggesting the closest name. */
export function checkOptionNames(owner: string, options: object | undefined, known: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new OptionError(`${owner} options must be an object but received ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    let best = '';
    let bestD = Infinity;
    for (const k of known) {
      const dist = editDistance(key, k);
      if (dist < bestD) { bestD = dist; best = k; }
    }
    const hint = bestD <= Math.max(2, key.length / 3) ? ` Did you mean '${best}'?` : '';
    throw new OptionError(`Unknown option '${key}' for ${owner}.${hint} Known options: ${known.join(', ')}`);
  }
}

const show = (v: unknown) => (typeof v === 'string' ? `'${v}'` : Array.isArray(v) ? JSON.stringify(v) : String(v));

export function optNumber(owner: string, name: string, v: unknown, def: number, min = -Infinity, max = Infinity, exclusiveMin = false): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (exclusiveMin && v === min))
    throw new OptionError(`Expected a number in ${exclusiveMin ? '(' : '['}${min}, ${max}] for ${owner} option '${name}' but received ${show(v)}`);
  return v;
}

export function optInt(owner: string, name: string, v: unknown, def: number, min = 0, max = 2 ** 31 - 1): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new OptionError(`Expected an integer in [${min}, ${max}] for ${owner} option '${name}' but received ${show(v)}`);
  return v;
}

export function optEnum<T extends string>(owner: string, name: string, v: unknown, allowed: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (typeof v !== 'string' || !allowed.includes(v as T))
    throw new OptionError(`Expected one of ${allowed.map((a) => `'${a}'`).join(', ')} for ${owner} option '${name}' but received ${show(v)}`);
  return v as T;
}

export function optBool(owner: string, name: string, v: unknown, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new OptionError(`Expected true or false for ${owner} option '${name}' but received ${show(v)}`);
  return v;
}
