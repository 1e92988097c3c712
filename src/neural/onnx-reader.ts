// Reads what OnnxDetector needs to know about an ONNX model before running it: opsets, producer,
// and the graph's inputs and outputs (names, element types, shapes). Anything that is not a
// well-formed ModelProto becomes a ModelFileError naming the problem.
import { ModelFileError } from '../errors';
import { ProtoError, ProtoField, fieldInt, fieldMessage, fieldString, readFields } from './protobuf';

/** ONNX TensorProto.DataType names, by enum value. */
const ELEM_TYPES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16',
};

export interface OnnxValueInfo {
  name: string;
  /** 'float32', 'int64', ...; 'non-tensor' for sequences, maps and optionals. */
  type: string;
  /** One entry per dimension: a fixed size, a symbolic name, or null when unknown. Undefined when the rank is unknown. */
  shape?: (number | string | null)[];
}

export interface OnnxModelInfo {
  irVersion: number;
  /** domain ('' = ai.onnx) -> version. */
  opsets: Record<string, number>;
  producerName: string;
  producerVersion: string;
  /** Graph inputs that are real inputs (initializers listed as inputs are left out). */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

function valueInfo(f: ProtoField, what: string): OnnxValueInfo {
  let name: string | undefined;
  let type = 'unknown';
  let shape: (number | string | null)[] | undefined;
  for (const v of fieldMessage(f, what)) {
    if (v.field === 1) name = fieldString(v, `${what} name`);
    else if (v.field === 2) {
      for (const t of fieldMessage(v, `${what} type`)) {
        if (t.field !== 1) {
          if (t.wire === 2 && t.field !== 6) type = 'non-tensor'; // sequence, map, optional, sparse
          continue;
        }
        for (const tt of fieldMessage(t, `${what} tensor type`)) {
          if (tt.field === 1) {
            const e = Number(fieldInt(tt, `${what} element type`));
            type = ELEM_TYPES[e] ?? `type #${e}`;
          } else if (tt.field === 2) {
            shape = [];
            for (const dim of fieldMessage(tt, `${what} shape`)) {
              if (dim.field !== 1) continue;
              let d: number | string | null = null;
              for (const dv of fieldMessage(dim, `${what} dimension`)) {
                if (dv.field === 1) d = Number(BigInt.asIntN(64, fieldInt(dv, `${what} dim_value`)));
                else if (dv.field === 2) d = fieldString(dv, `${what} dim_param`) || null;
              }
              shape.push(d);
            }
          }
        }
      }
    }
  }
  if (name === undefined) throw new ProtoError(`${what} has no name`);
  return { name, type, shape };
}

/** Parses the header of an ONNX model (the bytes of a ModelProto). */
export function readOnnxInfo(bytes: Uint8Array, source = 'the ONNX model'): OnnxModelInfo {
  const bad = (why: string): never => {
    throw new ModelFileError(`${source} is not a valid ONNX model: ${why}`);
  };
  if (!(bytes instanceof Uint8Array)) bad('expected bytes (Uint8Array or Buffer)');
  if (bytes.length === 0) bad('it is empty');
  if (bytes.length >= 8 && Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString('latin1') === 'NADIRMDL')
    bad('it is a nadir model file; load it with OnnxDetector.load(file) without options, or nadir.loadDetector(file)');
  const first = bytes[0];
  if (first === 0x7b || first === 0x5b) bad('it looks like JSON text, not a binary ONNX (protobuf) file');
  try {
    let irVersion: number | undefined;
    const opsets: Record<string, number> = {};
    let producerName = '';
    let producerVersion = '';
    let graph: ProtoField | undefined;
    for (const f of readFields(bytes, 'model')) {
      if (f.field === 1) irVersion = Number(fieldInt(f, 'ir_version'));
      else if (f.field === 2) producerName = fieldString(f, 'producer_name');
      else if (f.field === 3) producerVersion = fieldString(f, 'producer_version');
      else if (f.field === 7) graph = f;
      else if (f.field === 8) {
        let domain = '';
        let version = 0;
        for (const o of fieldMessage(f, 'opset_import')) {
          if (o.field === 1) domain = fieldString(o, 'opset domain');
          else if (o.field === 2) version = Number(fieldInt(o, 'opset version'));
        }
        opsets[domain === 'ai.onnx' ? '' : domain] = version;
      }
    }
    if (irVersion === undefined) bad('it has no ir_version (not an ONNX ModelProto)');
    if (irVersion! < 1 || irVersion! > 100) bad(`ir_version ${irVersion} is not plausible`);
    if (!graph) bad('it has no graph (truncated or not an ONNX ModelProto)');
    const rawInputs: OnnxValueInfo[] = [];
    const outputs: OnnxValueInfo[] = [];
    const initializers = new Set<string>();
    let nodes = 0;
    for (const g of fieldMessage(graph!, 'graph')) {
      if (g.field === 1) nodes++;
      else if (g.field === 5) {
        for (const t of fieldMessage(g, 'initializer')) if (t.field === 8) initializers.add(fieldString(t, 'initializer name'));
      } else if (g.field === 11) rawInputs.push(valueInfo(g, `graph input #${rawInputs.length}`));
      else if (g.field === 12) outputs.push(valueInfo(g, `graph output #${outputs.length}`));
    }
    if (outputs.length === 0) bad('its graph has no outputs (truncated?)');
    if (nodes === 0 && rawInputs.length === 0) bad('its graph is empty');
    return {
      irVersion: irVersion!,
      opsets,
      producerName,
      producerVersion,
      // Before IR 4 every initializer was also listed as an input; those are weights, not inputs.
      inputs: rawInputs.filter((i) => !initializers.has(i.name)),
      outputs,
    };
  } catch (e) {
    if (e instanceof ProtoError) bad(`${e.message} (random bytes, a truncated file, or another format)`);
    throw e;
  }
}

/** 'float32 [N, 21]' for messages. */
export function describeValue(v: OnnxValueInfo): string {
  const shape = v.shape ? `[${v.shape.map((d) => (d === null ? '?' : d)).join(', ')}]` : '[unknown shape]';
  return `'${v.name}' ${v.type} ${shape}`;
}
