/**
 * Parser for the IDX format of the original MNIST files (http://yann.lecun.com/exdb/mnist/):
 * two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then each dimension
 * as a big-endian uint32, then the values in row-major order.
 */
import { DatasetError } from "./errors.ts";

export interface IdxArray {
  dims: number[];
  /** A view into the file's bytes (no copy). */
  data: Uint8Array;
}

export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) throw new DatasetError(`${file}: too short for an IDX file (${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0)
    throw new DatasetError(`${file}: bad IDX magic (first two bytes must be 0)`);
  if (bytes[2] !== 0x08) {
    throw new DatasetError(`${file}: IDX type code 0x${bytes[2].toString(16)} is not 0x08 (unsigned byte)`);
  }
  const ndims = bytes[3];
  const dataStart = 4 + 4 * ndims;
  if (ndims === 0 || bytes.length < dataStart)
    throw new DatasetError(`${file}: truncated IDX header (${ndims} dimensions)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let k = 0; k < ndims; k++) dims.push(view.getUint32(4 + 4 * k, false));
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - dataStart !== count) {
    throw new DatasetError(
      `${file}: IDX dimensions ${dims.join("×")} need ${count} data bytes, the file has ${bytes.length - dataStart}`,
    );
  }
  return { dims, data: bytes.subarray(dataStart) };
}
