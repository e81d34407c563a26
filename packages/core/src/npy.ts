/**
 * A small reader/writer for NumPy's `.npy` format (versions 1.0–3.0), enough for feature files:
 * little-endian numeric dtypes, C order. Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import { readFile, writeFile } from "node:fs/promises";

export type NpyDtype = "<f4" | "<f8" | "|i1" | "|u1" | "<i2" | "<u2" | "<i4" | "<u4" | "<i8" | "<u8";
export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

/** A malformed or unexpected `.npy` file; the message names the file. */
export class NpyError extends Error {
  override name = "NpyError";
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

type TypedCtor = { new (buffer: ArrayBuffer): NpyData; readonly BYTES_PER_ELEMENT: number };
const DTYPES: Record<NpyDtype, TypedCtor> = {
  "<f4": Float32Array,
  "<f8": Float64Array,
  "|i1": Int8Array,
  "|u1": Uint8Array,
  "<i2": Int16Array,
  "<u2": Uint16Array,
  "<i4": Int32Array,
  "<u4": Uint32Array,
  "<i8": BigInt64Array,
  "<u8": BigUint64Array,
};

/** NumPy writes one-byte types as "|i1"; "<i1" is also seen in the wild and means the same. */
function normaliseDescr(descr: string): NpyDtype | null {
  const d = descr === "<i1" ? "|i1" : descr === "<u1" ? "|u1" : descr;
  return d in DTYPES ? (d as NpyDtype) : null;
}

export function parseNpy(bytes: Uint8Array, file = "<buffer>"): NpyArray {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) {
    throw new NpyError(`${file}: not a .npy file (missing the \\x93NUMPY magic)`);
  }
  const major = buf[6];
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new NpyError(`${file}: truncated .npy header`);
    headerLen = buf.readUInt32LE(8);
    headerStart = 12;
  } else {
    throw new NpyError(`${file}: unsupported .npy format version ${major}.${buf[7]}`);
  }
  const dataStart = headerStart + headerLen;
  if (buf.length < dataStart) throw new NpyError(`${file}: truncated .npy header`);
  const header = buf.subarray(headerStart, dataStart).toString(major === 3 ? "utf8" : "latin1");

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyError(`${file}: malformed .npy header ${JSON.stringify(header.trim())}`);
  }
  const dtype = normaliseDescr(descr);
  if (dtype === null) {
    throw new NpyError(
      `${file}: unsupported dtype '${descr}' (supported: little-endian ${Object.keys(DTYPES).join(", ")})`,
    );
  }
  if (fortran === "True")
    throw new NpyError(`${file}: Fortran-order arrays are not supported; save with C order`);
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const v = Number(s.replace(/L$/, ""));
      if (!Number.isSafeInteger(v) || v < 0)
        throw new NpyError(`${file}: bad dimension '${s}' in shape (${shapeText})`);
      return v;
    });
  const count = shape.reduce((a, b) => a * b, 1);
  const ctor = DTYPES[dtype];
  const byteLength = count * ctor.BYTES_PER_ELEMENT;
  if (buf.length - dataStart !== byteLength) {
    throw new NpyError(
      `${file}: shape (${shape.join(", ")}) of ${dtype} needs ${byteLength} data bytes, the file has ${buf.length - dataStart}`,
    );
  }
  // Copy into a fresh, aligned ArrayBuffer (the data offset need not be a multiple of the element size).
  const data = new ctor(
    buf.buffer.slice(buf.byteOffset + dataStart, buf.byteOffset + dataStart + byteLength) as ArrayBuffer,
  );
  return { dtype, shape, data };
}

export async function readNpy(file: string): Promise<NpyArray> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new NpyError(`${file}: cannot read (${(err as Error).message})`);
  }
  return parseNpy(bytes, file);
}

function dtypeOf(data: NpyData): NpyDtype {
  for (const [dtype, ctor] of Object.entries(DTYPES)) if (data instanceof ctor) return dtype as NpyDtype;
  throw new NpyError(`unsupported array type ${(data as object).constructor.name}`);
}

/** Encodes `data` with `shape` as a version 1.0 `.npy` file (header padded to 64 bytes, as NumPy does). */
export function encodeNpy(data: NpyData, shape: readonly number[]): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new NpyError(
      `encodeNpy: shape (${shape.join(", ")}) holds ${count} values but the array has ${data.length}`,
    );
  }
  const shapeText = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let header = `{'descr': '${dtypeOf(data)}', 'fortran_order': False, 'shape': (${shapeText}), }`;
  const unpadded = 10 + header.length + 1;
  header += " ".repeat((64 - (unpadded % 64)) % 64);
  header += "\n";
  const prefix = Buffer.alloc(10);
  MAGIC.copy(prefix, 0);
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    prefix,
    Buffer.from(header, "latin1"),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
}

export async function writeNpy(file: string, data: NpyData, shape: readonly number[]): Promise<void> {
  await writeFile(file, encodeNpy(data, shape));
}
