// The nadir model file: one self-describing binary file per model. See docs/model-format.md.
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { ModelFileError } from '../errors';

export const MAGIC = 'NADIRMDL';
export const FORMAT_VERSION = 1;
const BOM = 0x0a0b0c0d;
const FIXED_HEADER = 32;

export type TypedArray = Float32Array | Float64Array | Int32Array | Uint32Array | Uint8Array;
const DTYPES: Record<string, { ctor: any; size: number }> = {
  f32: { ctor: Float32Array, size: 4 },
  f64: { ctor: Float64Array, size: 8 },
  i32: { ctor: Int32Array, size: 4 },
  u32: { ctor: Uint32Array, size: 4 },
  u8: { ctor: Uint8Array, size: 1 },
};

function dtypeOf(a: TypedArray): string {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Float64Array) return 'f64';
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Uint32Array) return 'u32';
  if (a instanceof Uint8Array) return 'u8';
  throw new ModelFileError(`cannot store an array of type ${(a as object).constructor.name}`);
}

export interface ModelContent {
  /** Detector type, e.g. 'IsolationForest'. */
  type: string;
  /** JSON-safe metadata: options and small fitted values. */
  meta: Record<string, unknown>;
  /** Named binary arrays. */
  arrays: Record<string, TypedArray>;
}

interface ArrayEntry {
  name: string;
  dtype: string;
  offset: number;
  length: number;
}

const crcTable = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  const z = zlib as unknown as { crc32?: (b: Uint8Array) => number };
  if (typeof z.crc32 === 'function') return z.crc32(bytes) >>> 0;
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const align8 = (n: number) => (n + 7) & ~7;

export function encodeModel(content: ModelContent): Uint8Array {
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new ModelFileError('nadir model files are written on little-endian machines only');
  const entries: ArrayEntry[] = [];
  let offset = 0;
  for (const [name, arr] of Object.entries(content.arrays)) {
    const dtype = dtypeOf(arr);
    entries.push({ name, dtype, offset, length: arr.length });
    offset = align8(offset + arr.byteLength);
  }
  const header = {
    format: 'nadir-model',
    type: content.type,
    library: libraryVersion(),
    meta: content.meta,
    arrays: entries,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const jsonPadded = align8(json.length);
  const total = FIXED_HEADER + jsonPadded + offset + 4;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(Buffer.from(MAGIC, 'ascii'), 0);
  dv.setUint32(8, FORMAT_VERSION, true);
  dv.setUint32(12, BOM, true);
  dv.setBigUint64(16, BigInt(json.length), true);
  dv.setBigUint64(24, BigInt(offset), true);
  out.set(json, FIXED_HEADER);
  const base = FIXED_HEADER + jsonPadded;
  for (const e of entries) {
    const a = content.arrays[e.name];
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), base + e.offset);
  }
  dv.setUint32(total - 4, crc32(out.subarray(0, total - 4)), true);
  return out;
}

export function decodeModel(bytes: Uint8Array, source = 'model'): ModelContent {
  const bad = (why: string): never => {
    throw new ModelFileError(`${source} is not a valid nadir model: ${why}`);
  };
  if (!(bytes instanceof Uint8Array)) bad('expected bytes (Uint8Array or Buffer)');
  if (bytes.length < FIXED_HEADER + 4) bad(`file is ${bytes.length} bytes, too short to hold a header (truncated?)`);
  if (Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString('latin1') !== MAGIC) bad(`wrong magic bytes (not a nadir model file)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  const bom = dv.getUint32(12, true);
  if (bom !== BOM) bad(bom === 0x0d0c0b0a ? 'written on a big-endian machine, which this reader does not support' : 'byte-order mark is damaged');
  if (version > FORMAT_VERSION) throw new ModelFileError(`${source} uses model format version ${version}, newer than this nadir supports (${FORMAT_VERSION}); upgrade nadir to read it`);
  if (version < 1) bad(`format version ${version} is invalid`);
  const jsonLen = Number(dv.getBigUint64(16, true));
  const dataLen = Number(dv.getBigUint64(24, true));
  const expected = FIXED_HEADER + align8(jsonLen) + dataLen + 4;
  if (expected !== bytes.length) bad(`size is ${bytes.length} bytes but the header describes ${expected} (truncated or appended to)`);
  const stored = dv.getUint32(bytes.length - 4, true);
  if (crc32(bytes.subarray(0, bytes.length - 4)) !== stored) bad('checksum mismatch (the file is corrupted)');
  let header: any;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + FIXED_HEADER, jsonLen).toString('utf8'));
  } catch {
    bad('metadata is not valid JSON');
  }
  if (!header || header.format !== 'nadir-model' || typeof header.type !== 'string' || !Array.isArray(header.arrays)) bad('metadata is incomplete');
  const base = FIXED_HEADER + align8(jsonLen);
  const arrays: Record<string, TypedArray> = {};
  for (const e of header.arrays as ArrayEntry[]) {
    const dt = DTYPES[e?.dtype];
    if (!dt || typeof e.name !== 'string') bad(`array entry ${JSON.stringify(e)} is invalid`);
    if (!Number.isInteger(e.offset) || !Number.isInteger(e.length) || e.offset < 0 || e.length < 0 || e.offset + e.length * dt.size > dataLen)
      bad(`array '${e.name}' lies outside the data section`);
    // Copy into a fresh, aligned buffer: the model must not alias the file bytes.
    const copy = new Uint8Array(e.length * dt.size);
    copy.set(bytes.subarray(base + e.offset, base + e.offset + copy.length));
    arrays[e.name] = new dt.ctor(copy.buffer);
  }
  return { type: header.type, meta: header.meta ?? {}, arrays };
}

/** Writes bytes to file atomically: a temporary file in the same folder, fsync, rename. */
export function writeFileAtomic(file: string, bytes: Uint8Array): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) try { fs.closeSync(fd); } catch { /* already failing */ }
    try { fs.unlinkSync(tmp); } catch { /* not created */ }
    throw e;
  }
  try {
    const dfd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch {
    /* directories cannot be fsynced on every platform */
  }
}

export function readModelFile(file: string): ModelContent {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new ModelFileError(`cannot read model file '${file}': ${(e as Error).message}`);
  }
  return decodeModel(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), `'${file}'`);
}

let cachedVersion: string | undefined;
function libraryVersion(): string {
  if (cachedVersion) return cachedVersion;
  try {
    cachedVersion = String(require(path.join(__dirname, '..', '..', 'package.json')).version);
  } catch {
    cachedVersion = 'unknown';
  }
  return cachedVersion;
}
