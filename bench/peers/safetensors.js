// Minimal safetensors reader/writer for the ONNX Runtime peer runner.
// Layout: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the raw little-endian tensor bytes (offsets relative to the data start).
'use strict';
const fs = require('fs');

// safetensors dtype -> [onnxruntime tensor type, TypedArray constructor]
const DTYPES = {
  F32: ['float32', Float32Array],
  F64: ['float64', Float64Array],
  F16: ['float16', Uint16Array],
  I64: ['int64', BigInt64Array],
  U64: ['uint64', BigUint64Array],
  I32: ['int32', Int32Array],
  U32: ['uint32', Uint32Array],
  I16: ['int16', Int16Array],
  U16: ['uint16', Uint16Array],
  I8: ['int8', Int8Array],
  U8: ['uint8', Uint8Array],
  BOOL: ['bool', Uint8Array],
};
const ORT_TO_SAFETENSORS = Object.fromEntries(Object.entries(DTYPES).map(([k, v]) => [v[0], k]));

// Returns {name: {dtype, ortType, shape, data (TypedArray, own copy)}} in file order.
function readSafetensors(path) {
  const buf = fs.readFileSync(path);
  if (buf.length < 8) throw new Error(`${path}: too short for a safetensors file`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (8 + headerLen > buf.length) throw new Error(`${path}: header length ${headerLen} past end of file`);
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  const base = 8 + headerLen;
  const out = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const kind = DTYPES[info.dtype];
    if (!kind) {
      throw new Error(`${path}: tensor '${name}' has dtype ${info.dtype}, which ONNX Runtime (node) cannot take`);
    }
    const [begin, end] = info.data_offsets;
    const numel = info.shape.reduce((a, b) => a * b, 1);
    const Typed = kind[1];
    if (end - begin !== numel * Typed.BYTES_PER_ELEMENT || base + end > buf.length)
      throw new Error(`${path}: tensor '${name}' data_offsets [${begin}, ${end}] do not fit shape [${info.shape}]`);
    // Copy into a fresh, aligned ArrayBuffer (the file buffer's offsets need not be aligned).
    const bytes = new Uint8Array(end - begin);
    bytes.set(buf.subarray(base + begin, base + end));
    out[name] = { dtype: info.dtype, ortType: kind[0], shape: info.shape, data: new Typed(bytes.buffer) };
  }
  return out;
}

// tensors: {name: {ortType, shape, data (TypedArray)}}. Written atomically (temp + rename).
function writeSafetensors(path, tensors, metadata) {
  const header = {};
  if (metadata) header.__metadata__ = metadata;
  const chunks = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const dtype = ORT_TO_SAFETENSORS[t.ortType];
    if (!dtype) throw new Error(`output '${name}' has type ${t.ortType}, which this writer does not handle`);
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype, shape: Array.from(t.shape, Number), data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);  // pad so the data starts 8-byte aligned
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const tmp = `${path}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat([len, Buffer.from(json, 'utf8'), ...chunks]));
  fs.renameSync(tmp, path);
}

module.exports = { readSafetensors, writeSafetensors };
