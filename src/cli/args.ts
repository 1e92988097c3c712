// Command-line parsing for `nadir`: declared flags per command, plus (for commands that build a
// detector) any other `--name value` passed through as a detector option.
// util.parseArgs cannot take undeclared `--name value` pairs, which detector options need.

/** A mistake in how the command was called or in what it was given: printed as one line, exit 1. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in --help. */
  arg?: string;
  help: string;
}

export interface Parsed {
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** Undeclared flags, camelCased, with parsed values (only when passthrough is on). */
  extra: Record<string, unknown>;
}

export const camel = (s: string) => s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
export const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/([A-Z])([A-Z][a-z])/g, '$1-$2').toLowerCase();

const isFlag = (t: string | undefined) => t !== undefined && /^--?[a-zA-Z]/.test(t);

/**
 * A detector option's value from the command line: true/false, a number, a JSON array or object,
 * a comma list of numbers ("64,32" or "16," for a one-element list), else the string itself.
 */
export function parseValue(name: string, raw: string): unknown {
  const t = raw.trim();
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (t !== '' && !Number.isNaN(Number(t))) return Number(t);
  if (t.startsWith('[') || t.startsWith('{')) {
    try {
      return JSON.parse(t);
    } catch {
      throw new UserError(`--${kebab(name)}: '${raw}' is not valid JSON`);
    }
  }
  if (t.includes(',')) {
    const parts = t.split(',').map((p) => p.trim());
    if (parts[parts.length - 1] === '') parts.pop();
    if (parts.length > 0 && parts.every((p) => p !== '' && !Number.isNaN(Number(p)))) return parts.map(Number);
  }
  return raw;
}

export function parseArgs(command: string, argv: string[], spec: Record<string, FlagSpec>, passthrough = false): Parsed {
  const flags: Record<string, string | boolean | undefined> = {};
  const positionals: string[] = [];
  const extra: Record<string, unknown> = {};
  const byShort = new Map(Object.entries(spec).filter(([, s]) => s.short).map(([k, s]) => [s.short!, k]));
  const usage = `see 'nadir ${command} --help'`;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!isFlag(tok)) {
      positionals.push(tok);
      continue;
    }
    let name: string;
    let value: string | undefined;
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      name = eq >= 0 ? tok.slice(2, eq) : tok.slice(2);
      value = eq >= 0 ? tok.slice(eq + 1) : undefined;
    } else {
      const long = byShort.get(tok.slice(1, 2));
      if (!long) throw new UserError(`unknown option ${tok} for 'nadir ${command}' (${usage})`, 2);
      name = long;
      value = tok.length > 2 ? tok.slice(2).replace(/^=/, '') : undefined;
    }
    const key = camel(name);
    const s = spec[key];
    if (!s && name.startsWith('no-') && spec[camel(name.slice(3))]?.type === 'boolean' && value === undefined) {
      flags[camel(name.slice(3))] = false;
      continue;
    }
    if (s) {
      if (s.type === 'boolean') {
        if (value !== undefined && value !== 'true' && value !== 'false') throw new UserError(`--${name} takes no value (${usage})`, 2);
        flags[key] = value !== 'false';
      } else {
        if (value === undefined) {
          if (i + 1 >= argv.length || (isFlag(argv[i + 1]) && Number.isNaN(Number(argv[i + 1])))) throw new UserError(`--${name} needs a value (${usage})`, 2);
          value = argv[++i];
        }
        flags[key] = value;
      }
      continue;
    }
    if (!passthrough) throw new UserError(`unknown option --${name} for 'nadir ${command}' (${usage})`, 2);
    if (name.startsWith('no-') && value === undefined) {
      extra[camel(name.slice(3))] = false;
      continue;
    }
    if (value === undefined) {
      const next = argv[i + 1];
      if (next !== undefined && (!isFlag(next) || !Number.isNaN(Number(next)))) value = argv[++i];
    }
    extra[key] = value === undefined ? true : parseValue(key, value);
  }
  return { flags, positionals, extra };
}

export function helpText(usage: string, description: string, spec: Record<string, FlagSpec>, footer = ''): string {
  const rows = Object.entries(spec).map(([k, s]) => {
    const left = `${s.short ? `-${s.short}, ` : '    '}--${kebab(k)}${s.arg ? ` <${s.arg}>` : ''}`;
    return [left, s.help];
  });
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return [`Usage: ${usage}`, '', description, '', 'Options:', ...rows.map(([l, h]) => `  ${l.padEnd(w)}${h}`), footer ? `\n${footer}` : '']
    .join('\n')
    .trimEnd();
}

/** Splits "a,b,c" into names, dropping empty entries. */
export function list(v: string | boolean | undefined): string[] | undefined {
  if (typeof v !== 'string') return undefined;
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

export function intFlag(name: string, v: string | boolean | undefined, def: number, min = 1): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < min) throw new UserError(`--${kebab(name)} must be an integer >= ${min} but received '${String(v)}'`, 2);
  return n;
}
