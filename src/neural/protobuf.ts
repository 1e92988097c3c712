// A minimal protocol-buffers wire-format writer and reader: just enough for ONNX ModelProto
// (varints, 32-bit floats, length-delimited fields). No schema, no dependency.

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const utf8 = new TextEncoder();

/** Builds one message; nested messages are written by encoding them first and adding their bytes. */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private scratch: number[] = [];
  private size = 0;

  private flushScratch(): void {
    if (this.scratch.length === 0) return;
    const b = Uint8Array.from(this.scratch);
    this.chunks.push(b);
    this.size += b.length;
    this.scratch = [];
  }

  private varint(v: number | bigint): void {
    // int64 fields: negative values are written as their 64-bit two's complement (10 bytes).
    if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
      if (!Number.isInteger(v)) throw new RangeError(`protobuf varint must be an integer, got ${v}`);
      while (v >= 0x80) {
        this.scratch.push((v % 0x80) | 0x80);
        v = Math.floor(v / 0x80);
      }
      this.scratch.push(v);
      return;
    }
    let b = BigInt.asUintN(64, BigInt(v));
    while (b >= 0x80n) {
      this.scratch.push(Number(b & 0x7fn) | 0x80);
      b >>= 7n;
    }
    this.scratch.push(Number(b));
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** int32/int64/enum/bool field. */
  int(field: number, v: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.scratch.push(...b);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.varint(b.length);
    this.flushScratch();
    this.chunks.push(b);
    this.size += b.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  /** Repeated int64 as one packed field. */
  packedInts(field: number, values: ArrayLike<number | bigint>): this {
    const inner = new ProtoWriter();
    for (let i = 0; i < values.length; i++) inner.varint(values[i]);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    this.flushScratch();
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** One decoded field: varints as bigint, fixed-width as raw bytes, length-delimited as a view. */
export interface ProtoField {
  field: number;
  wire: number;
  /** varint value (wire 0). */
  int?: bigint;
  /** bytes of a length-delimited (wire 2) or fixed-width (wire 1, 5) field; a view, not a copy. */
  data?: Uint8Array;
}

/** Thrown for bytes that are not well-formed protobuf; callers turn it into a ModelFileError. */
export class ProtoError extends Error {}

/** Splits one message into its fields, checking every length against the buffer. */
export function readFields(buf: Uint8Array, what: string): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new ProtoError(`${what}: a number runs past the end of the data (truncated?)`);
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new ProtoError(`${what}: a number is longer than 10 bytes`);
  };
  while (pos < buf.length) {
    const start = pos;
    const key = readVarint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0 || field > 536870911) throw new ProtoError(`${what}: invalid field number ${field} at byte ${start}`);
    if (wire === WIRE_VARINT) {
      out.push({ field, wire, int: readVarint() });
    } else if (wire === WIRE_LEN) {
      const len = readVarint();
      if (len > BigInt(buf.length - pos)) throw new ProtoError(`${what}: field ${field} claims ${len} bytes but only ${buf.length - pos} remain (truncated?)`);
      const n = Number(len);
      out.push({ field, wire, data: buf.subarray(pos, pos + n) });
      pos += n;
    } else if (wire === WIRE_I32 || wire === WIRE_I64) {
      const n = wire === WIRE_I32 ? 4 : 8;
      if (pos + n > buf.length) throw new ProtoError(`${what}: field ${field} runs past the end of the data (truncated?)`);
      out.push({ field, wire, data: buf.subarray(pos, pos + n) });
      pos += n;
    } else {
      throw new ProtoError(`${what}: unsupported wire type ${wire} at byte ${start}`);
    }
  }
  return out;
}

const utf8Dec = new TextDecoder('utf-8', { fatal: true });

export function fieldString(f: ProtoField, what: string): string {
  if (f.wire !== WIRE_LEN || !f.data) throw new ProtoError(`${what} is not a string`);
  try {
    return utf8Dec.decode(f.data);
  } catch {
    throw new ProtoError(`${what} is not valid UTF-8`);
  }
}

export function fieldInt(f: ProtoField, what: string): bigint {
  if (f.wire !== WIRE_VARINT || f.int === undefined) throw new ProtoError(`${what} is not an integer`);
  return f.int;
}

export function fieldMessage(f: ProtoField, what: string): ProtoField[] {
  if (f.wire !== WIRE_LEN || !f.data) throw new ProtoError(`${what} is not a message`);
  return readFields(f.data, what);
}
