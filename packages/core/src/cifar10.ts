/**
 * The CIFAR-10 binary version (https://www.cs.toronto.edu/~kriz/cifar.html): six files
 * (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`) of 10000 records, each record one label
 * byte (0–9) then 3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each a 32×32 image in row order.
 * Read from the official `cifar-10-binary.tar.gz` (streamed: gunzip, then a minimal tar reader, so the
 * archive is never extracted to disk) or from a folder holding the six files.
 */
import { createReadStream } from "node:fs";
import { open, readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { pipeline } from "node:stream";
import { createGunzip } from "node:zlib";

export const CIFAR10_TRAIN_FILES = [
  "data_batch_1.bin",
  "data_batch_2.bin",
  "data_batch_3.bin",
  "data_batch_4.bin",
  "data_batch_5.bin",
] as const;
export const CIFAR10_TEST_FILE = "test_batch.bin";
export const CIFAR10_FILES = [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE] as const;
export const CIFAR10_IMAGE_SIZE = 32;
export const CIFAR10_PIXEL_BYTES = 3 * CIFAR10_IMAGE_SIZE * CIFAR10_IMAGE_SIZE;
export const CIFAR10_RECORD_BYTES = 1 + CIFAR10_PIXEL_BYTES;
export const CIFAR10_RECORDS_PER_FILE = 10_000;
export const CIFAR10_CLASSES = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
] as const;

/** A bad archive, folder or batch file (wrong size, label out of range, missing file); names the file. */
export class Cifar10Error extends Error {
  override name = "Cifar10Error";
}

/** One batch file: `records` raw records of CIFAR10_RECORD_BYTES each. */
export interface Cifar10File {
  name: (typeof CIFAR10_FILES)[number];
  /** Where it was read from, for messages: a path, or "archive.tar.gz:member/path". */
  source: string;
  bytes: Buffer;
  records: number;
}

export interface Cifar10Data {
  /** data_batch_1 … data_batch_5, in that order. */
  train: Cifar10File[];
  test: Cifar10File;
}

export interface ReadCifar10Options {
  /**
   * Records each file must hold (default 10000, the official files). Smaller values are for tests and
   * quick trials on truncated copies; every file must still hold exactly this many.
   */
  recordsPerFile?: number;
}

/** Checks a batch file's size and every label; the error names the file and the first bad record. */
export function validateCifar10File(file: Cifar10File, recordsPerFile: number): void {
  const expected = recordsPerFile * CIFAR10_RECORD_BYTES;
  if (file.bytes.length !== expected) {
    throw new Cifar10Error(
      `${file.source}: ${file.bytes.length} bytes, expected ${expected} (${recordsPerFile} records of ${CIFAR10_RECORD_BYTES} bytes: 1 label byte + 3072 pixels)`,
    );
  }
  for (let r = 0; r < recordsPerFile; r++) {
    const label = file.bytes[r * CIFAR10_RECORD_BYTES];
    if (label >= CIFAR10_CLASSES.length) {
      throw new Cifar10Error(
        `${file.source}: record ${r} (byte offset ${r * CIFAR10_RECORD_BYTES}) has label ${label}, outside 0…${CIFAR10_CLASSES.length - 1}`,
      );
    }
  }
}

/** The labels of a batch file, in record order. */
export function cifar10Labels(file: Cifar10File): Uint8Array {
  const out = new Uint8Array(file.records);
  for (let r = 0; r < file.records; r++) out[r] = file.bytes[r * CIFAR10_RECORD_BYTES];
  return out;
}

function checkRecordsPerFile(value: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > CIFAR10_RECORDS_PER_FILE) {
    throw new Cifar10Error(
      `recordsPerFile must be an integer in 1…${CIFAR10_RECORDS_PER_FILE}, got ${value}`,
    );
  }
  return value;
}

/**
 * Reads and validates the six batch files from `source`: a .tar.gz (or plain .tar) archive such as the
 * official cifar-10-binary.tar.gz, or a folder holding the files (directly or in cifar-10-batches-bin/).
 */
export async function readCifar10(source: string, options: ReadCifar10Options = {}): Promise<Cifar10Data> {
  const recordsPerFile = checkRecordsPerFile(options.recordsPerFile ?? CIFAR10_RECORDS_PER_FILE);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(source);
  } catch (err) {
    throw new Cifar10Error(
      `${source}: cannot read the CIFAR-10 archive or folder (${(err as Error).message})`,
    );
  }
  const found = info.isDirectory() ? await readFolder(source) : await readArchive(source);
  const files = CIFAR10_FILES.map((name) => {
    const entry = found.get(name);
    if (!entry) {
      const seen = [...found.keys()];
      throw new Cifar10Error(
        `${source}: no ${name} in it (found ${seen.length > 0 ? seen.join(", ") : "none of the six batch files"}; expected ${CIFAR10_FILES.join(", ")})`,
      );
    }
    const file: Cifar10File = { name, source: entry.source, bytes: entry.bytes, records: recordsPerFile };
    validateCifar10File(file, recordsPerFile);
    return file;
  });
  return { train: files.slice(0, 5), test: files[5] };
}

type Found = Map<string, { source: string; bytes: Buffer }>;

async function readFolder(dir: string): Promise<Found> {
  const found: Found = new Map();
  for (const name of CIFAR10_FILES) {
    for (const candidate of [join(dir, name), join(dir, "cifar-10-batches-bin", name)]) {
      try {
        found.set(name, { source: candidate, bytes: await readFile(candidate) });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
          throw new Cifar10Error(`${candidate}: cannot read (${(err as Error).message})`);
        }
      }
    }
  }
  return found;
}

async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

async function readArchive(path: string): Promise<Found> {
  const raw = createReadStream(path);
  let stream: NodeJS.ReadableStream & AsyncIterable<Buffer> = raw;
  if (await isGzip(path)) {
    const gunzip = createGunzip();
    // Errors of either stream reach the reader through the gunzip stream it iterates.
    pipeline(raw, gunzip, () => {});
    stream = gunzip;
  }
  const wanted = new Set<string>(CIFAR10_FILES);
  const found: Found = new Map();
  try {
    const keep = (name: string) => wanted.has(basename(name));
    for await (const member of tarMembers(
      stream,
      path,
      keep,
      CIFAR10_RECORDS_PER_FILE * CIFAR10_RECORD_BYTES,
    )) {
      const name = basename(member.name);
      if (found.has(name)) {
        throw new Cifar10Error(
          `${path}: ${name} appears twice (${found.get(name)!.source} and ${member.name})`,
        );
      }
      found.set(name, { source: `${path}:${member.name}`, bytes: member.bytes });
      if (found.size === wanted.size) break; // the rest of the archive (readme, meta) is not needed
    }
  } catch (err) {
    if (err instanceof Cifar10Error) throw err;
    throw new Cifar10Error(`${path}: not a readable .tar.gz or .tar archive (${(err as Error).message})`);
  } finally {
    raw.destroy();
  }
  return found;
}

/** Pulls exact byte counts out of a chunked stream. */
class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly it: AsyncIterator<Buffer>;

  constructor(stream: AsyncIterable<Buffer>) {
    this.it = stream[Symbol.asyncIterator]();
  }

  /** Exactly n bytes, or null at a clean end of stream (no bytes left); a short tail throws. */
  async read(n: number, what: string): Promise<Buffer | null> {
    while (this.buffered < n) {
      const next = await this.it.next();
      if (next.done) {
        if (this.buffered === 0) return null;
        throw new Error(`the archive ends inside ${what} (${this.buffered} of ${n} bytes)`);
      }
      this.chunks.push(next.value);
      this.buffered += next.value.length;
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    // A view into a larger chunk would keep that chunk alive; copy so each file owns its bytes.
    return all.length === n ? out : Buffer.from(out);
  }

  async skip(n: number, what: string): Promise<void> {
    let left = n;
    while (left > 0) {
      const step = Math.min(left, 1 << 20);
      if ((await this.read(step, what)) === null) throw new Error(`the archive ends inside ${what}`);
      left -= step;
    }
  }
}

interface TarHeader {
  name: string;
  size: number;
  type: string;
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString("utf8");
}

function tarNumber(field: Buffer): number {
  // GNU base-256 for sizes ≥ 8 GiB: high bit set, big-endian binary in the remaining bytes.
  if (field[0] & 0x80) {
    let v = field[0] & 0x7f;
    for (let k = 1; k < field.length; k++) v = v * 256 + field[k];
    return v;
  }
  const text = cString(field).trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

/** Parses a ustar/GNU header block; null for the zero block that ends the archive. */
function parseTarHeader(block: Buffer): TarHeader | null {
  if (block.every((b) => b === 0)) return null;
  let sum = 0;
  for (let k = 0; k < 512; k++) sum += k >= 148 && k < 156 ? 0x20 : block[k];
  const stored = tarNumber(block.subarray(148, 156));
  if (stored !== sum) throw new Error(`bad tar header checksum (${stored}, computed ${sum})`);
  const name = cString(block.subarray(0, 100));
  const prefix =
    block.subarray(257, 262).toString("latin1") === "ustar" ? cString(block.subarray(345, 500)) : "";
  const size = tarNumber(block.subarray(124, 136));
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`bad size field in the tar header of ${name}`);
  return { name: prefix ? `${prefix}/${name}` : name, size, type: String.fromCharCode(block[156] || 0x30) };
}

/** The path a pax extended header ("len key=value\n" records) sets, if any. */
function paxPath(data: Buffer): string | undefined {
  let path: string | undefined;
  for (const line of data.toString("utf8").split("\n")) {
    const m = /^\d+ path=(.*)$/.exec(line);
    if (m) path = m[1];
  }
  return path;
}

/** The largest long-name or pax header read: a path, not a file. */
const MAX_EXTENDED_HEADER = 1 << 20;

/**
 * Regular files of a tar stream whose names `keep` accepts, with their bytes; others are skipped. A
 * member is buffered whole, so its declared size is checked against `maxBytes` first: an archive that
 * declares an 8 GiB member is refused from its header, not after 8 GiB of memory.
 */
async function* tarMembers(
  stream: AsyncIterable<Buffer>,
  archive: string,
  keep: (name: string) => boolean,
  maxBytes: number,
): AsyncGenerator<{ name: string; bytes: Buffer }> {
  const reader = new ByteReader(stream);
  let longName: string | undefined;
  for (;;) {
    const block = await reader.read(512, "a tar header");
    if (block === null) return; // archives without the closing zero blocks still end cleanly
    const header = parseTarHeader(block);
    if (header === null) return;
    const padded = Math.ceil(header.size / 512) * 512;
    const name = longName ?? header.name;
    if (header.type === "L" || header.type === "x") {
      if (header.size > MAX_EXTENDED_HEADER)
        throw new Error(
          `the extended header of ${header.name} declares ${header.size} bytes (at most ${MAX_EXTENDED_HEADER})`,
        );
      const data = (await reader.read(padded, `the extended header of ${header.name}`))!;
      longName =
        header.type === "L" ? cString(data.subarray(0, header.size)) : paxPath(data.subarray(0, header.size));
      continue;
    }
    longName = undefined;
    const regular = header.type === "0" || header.type === "7";
    if (regular && keep(name)) {
      if (header.size > maxBytes)
        throw new Error(`${name} declares ${header.size} bytes, more than the ${maxBytes} it may hold`);
      const data =
        header.size === 0 ? Buffer.alloc(0) : await reader.read(header.size, `${name} in ${archive}`);
      if (data === null) throw new Error(`the archive ends before the data of ${name}`);
      await reader.skip(padded - header.size, `the padding after ${name}`);
      yield { name, bytes: data };
    } else {
      await reader.skip(padded, name);
    }
  }
}
