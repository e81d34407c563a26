/**
 * The noise definition of every engine ("philox-v1"): counter-based, so ξ needs no sequential state.
 *
 *   ξ(key, step, e) = lane e mod 4 of BoxMuller(Philox4x32-10(counter = (⌊e/4⌋, step, 0, 0), key))
 *
 * for element e of a job's W (d×cols, row-major, its own layout) at step `step` of the job. So any
 * engine, any batch width (a fused job's ξ does not depend on its batch mates) and any starting step
 * (a resumed job) give the same ξ. Box–Muller of a block (b0, b1, b2, b3): u = (b + ½)·2⁻³², r =
 * √(−2 ln u_a), θ = π(2u_b − 1), lanes (r cos θ, r sin θ) for (b0, b1) and for (b2, b3), computed in
 * float64 and rounded once to float32. The GPU kernel (./webgpu-noise.ts) computes the same in float32
 * (its log/cos/sin differ from the CPU's in the last bits).
 */
import type { NoiseSource } from "./types.ts";

/** Recorded with every result (JobSpec.noise): results of another noise definition are not mixed with these. */
export const NOISE_VERSION = "philox-v1";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO_POW_M32 = 2 ** -32;

/** A 64-bit seed as Philox's two key words (low, high). */
export function philoxKey(seed: bigint): [number, number] {
  if (typeof seed !== "bigint") throw new TypeError(`philox key: seed must be a bigint, got ${typeof seed}`);
  const s = BigInt.asUintN(64, seed);
  return [Number(s & 0xffffffffn), Number(s >> 32n)];
}

/**
 * High 32 bits of a·b for uint32 a, b: the float64 product is within 2¹² of the exact one, so after
 * removing the exact low word (Math.imul) the quotient by 2³² is within 2⁻²⁰ of an integer.
 */
function mulhi(a: number, b: number, lo: number): number {
  return Math.round((a * b - lo) * TWO_POW_M32);
}

/** Philox4x32 with 10 rounds (Salmon et al. 2011, Random123's constants); words as uint32. */
export function philox4x32(ctr: readonly number[], key: readonly number[]): [number, number, number, number] {
  let c0 = ctr[0] >>> 0;
  let c1 = ctr[1] >>> 0;
  let c2 = ctr[2] >>> 0;
  let c3 = ctr[3] >>> 0;
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let round = 0; round < 10; round++) {
    const lo0 = Math.imul(M0, c0) >>> 0;
    const lo1 = Math.imul(M1, c2) >>> 0;
    const hi0 = mulhi(M0, c0, lo0);
    const hi1 = mulhi(M1, c2, lo1);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** The last block's four values, for a fill whose length is not a multiple of 4. */
const tail = new Float64Array(4);
/** Blocks per call of the WebAssembly core: 16 bytes each, one 64 KiB page. */
const CHUNK = 4096;

/**
 * Writes ξ(key, step, e) for e = first … first + count − 1 into out[at …], each multiplied by `scale`
 * (then rounded to float32: scale·ξ, ξ itself rounded first). The hot path: Philox's rounds run in a
 * small WebAssembly function (philoxCore below, exact 64-bit products; 0.28 ms for one MNIST step's
 * 19,600 blocks at T = 100, against 1.9 ms in JavaScript), Box–Muller here with Math.log/cos/sin as the
 * definition says. 78,400 values took 1.7 ms (3.4 ms before) on one core of the shared 2-core machine.
 */
export function philoxNormals(
  key: readonly [number, number],
  step: number,
  out: Float32Array,
  at = 0,
  count = out.length - at,
  first = 0,
  scale = 1,
): void {
  if (!(Number.isInteger(step) && step >= 0 && step <= 0xffffffff))
    throw new RangeError(`philox noise: step must be an integer in 0…2³²−1, got ${step}`);
  if (!(Number.isInteger(first) && first >= 0 && first % 4 === 0))
    throw new RangeError(`philox noise: first element must be a multiple of 4, got ${first}`);
  if (at < 0 || count < 0 || at + count > out.length)
    throw new RangeError(`philox noise: ${count} values at ${at} do not fit in ${out.length}`);
  const core = philoxCore();
  const end = at + count;
  const whole = at + (count & ~3);
  let block = first / 4;
  for (let i = at; i < end; ) {
    const n = Math.min(CHUNK, Math.ceil((end - i) / 4));
    core.blocks(key[0] | 0, key[1] | 0, step | 0, block | 0, n);
    const u = core.words;
    for (let w = 0; w < 4 * n; w += 4, i += 4) {
      const r0 = Math.sqrt(-2 * Math.log((u[w] + 0.5) * TWO_POW_M32));
      const t0 = Math.PI * ((u[w + 1] + 0.5) * (2 * TWO_POW_M32) - 1);
      const r1 = Math.sqrt(-2 * Math.log((u[w + 2] + 0.5) * TWO_POW_M32));
      const t1 = Math.PI * ((u[w + 3] + 0.5) * (2 * TWO_POW_M32) - 1);
      if (i < whole) {
        if (scale === 1) {
          out[i] = r0 * Math.cos(t0);
          out[i + 1] = r0 * Math.sin(t0);
          out[i + 2] = r1 * Math.cos(t1);
          out[i + 3] = r1 * Math.sin(t1);
        } else {
          out[i] = scale * Math.fround(r0 * Math.cos(t0));
          out[i + 1] = scale * Math.fround(r0 * Math.sin(t0));
          out[i + 2] = scale * Math.fround(r1 * Math.cos(t1));
          out[i + 3] = scale * Math.fround(r1 * Math.sin(t1));
        }
      } else {
        tail[0] = r0 * Math.cos(t0);
        tail[1] = r0 * Math.sin(t0);
        tail[2] = r1 * Math.cos(t1);
        tail[3] = r1 * Math.sin(t1);
        for (let k = 0; i + k < end; k++) out[i + k] = scale * Math.fround(tail[k]);
      }
    }
    block += n;
  }
}

/**
 * A job's ξ as a NoiseSource: fill number s is step `start + s`, so `new PhiloxNoise(seed, k)` resumes
 * a job at step k with exactly the draws it would have had.
 */
export class PhiloxNoise implements NoiseSource {
  /** The 64-bit seed as Philox's two key words. */
  readonly key: [number, number];
  private step: number;

  constructor(seed: bigint, start = 0) {
    if (typeof seed !== "bigint")
      throw new TypeError(`PhiloxNoise: seed must be a bigint, got ${typeof seed}`);
    if (!(Number.isInteger(start) && start >= 0))
      throw new RangeError(`PhiloxNoise: start step must be an integer ≥ 0, got ${start}`);
    this.key = philoxKey(seed);
    this.step = start;
  }

  /** The step the next fill draws. */
  get position(): number {
    return this.step;
  }

  fill(out: Float32Array): void {
    philoxNormals(this.key, this.step++, out);
  }

  /** Claims the next step without computing it (the GPU draws it); returns its number. */
  take(): number {
    return this.step++;
  }
}

/**
 * Philox4x32-10's rounds in WebAssembly, where a 32×32 → 64-bit product is one i64.mul (JavaScript needs
 * float64 tricks for its high word). `blocks(k0, k1, step, first, n)` writes the four output words of
 * counters (first + i, step, 0, 0), i < n ≤ 4096, to words[4i … 4i + 3]. Checked against philox4x32
 * by the tests. The module is assembled here, instruction by instruction (no build step, no binary file).
 */
interface PhiloxCore {
  blocks(k0: number, k1: number, step: number, first: number, n: number): void;
  words: Uint32Array;
}

let core: PhiloxCore | null = null;

/** The part of the WebAssembly API used here (this package compiles without the DOM library). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

export function philoxCore(): PhiloxCore {
  if (core) return core;
  const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;
  const instance = new wasm.Instance(new wasm.Module(philoxWasm()));
  const memory = instance.exports.memory as { buffer: ArrayBuffer };
  core = {
    blocks: instance.exports.blocks as PhiloxCore["blocks"],
    words: new Uint32Array(memory.buffer, 0, 4 * 4096),
  };
  return core;
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function sleb(v: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && !(b & 0x40)) || (v === -1n && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
}

function philoxWasm(): Uint8Array {
  const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
  const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
  const name = (s: string) => vec([...s].map((c) => [c.charCodeAt(0)]));
  // Parameters 0–4: k0, k1, step, first, n; i32 locals 5–12; i64 locals 13–14.
  const [K0, K1, STEP, FIRST, N, I, C0, C1, C2, C3, KA, KB, R, P0, P1] = Array.from(
    { length: 15 },
    (_, i) => i,
  );
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const tee = (i: number) => [0x22, i];
  const i32 = (v: number) => [0x41, ...sleb(BigInt(v | 0))];
  const i64 = (v: bigint) => [0x42, ...sleb(v)];
  const [XOR, ADD, SUB, SHL, GE_U, MUL64, SHR64_U, EXTEND_U, WRAP] = [
    0x73, 0x6a, 0x6b, 0x74, 0x4f, 0x7e, 0x88, 0xad, 0xa7,
  ];
  const [BLOCK, LOOP, END, BR, BR_IF, VOID] = [0x02, 0x03, 0x0b, 0x0c, 0x0d, 0x40];
  const store = (offset: number) => [0x36, 2, offset];
  // biome-ignore format: one line per instruction group reads as the algorithm
  const body = [
    ...vec([[8, 0x7f], [2, 0x7e]]),
    ...i32(0), ...set(I),
    BLOCK, VOID, LOOP, VOID,
    ...get(I), ...get(N), GE_U, BR_IF, 1,
    ...get(FIRST), ...get(I), ADD, ...set(C0),
    ...get(STEP), ...set(C1), ...i32(0), ...set(C2), ...i32(0), ...set(C3),
    ...get(K0), ...set(KA), ...get(K1), ...set(KB), ...i32(10), ...set(R),
    LOOP, VOID,
    // (c0, c1, c2, c3) ← (hi(M1·c2) ⊕ c1 ⊕ k0, lo(M1·c2), hi(M0·c0) ⊕ c3 ⊕ k1, lo(M0·c0))
    ...get(C0), EXTEND_U, ...i64(BigInt(M0)), MUL64, ...set(P0),
    ...get(C2), EXTEND_U, ...i64(BigInt(M1)), MUL64, ...set(P1),
    ...get(P1), ...i64(32n), SHR64_U, WRAP, ...get(C1), XOR, ...get(KA), XOR, ...set(C0),
    ...get(P1), WRAP, ...set(C1),
    ...get(P0), ...i64(32n), SHR64_U, WRAP, ...get(C3), XOR, ...get(KB), XOR, ...set(C2),
    ...get(P0), WRAP, ...set(C3),
    ...get(KA), ...i32(W0), ADD, ...set(KA),
    ...get(KB), ...i32(W1), ADD, ...set(KB),
    ...get(R), ...i32(1), SUB, ...tee(R), BR_IF, 0,
    END,
    // words[4i…4i+3] ← (c0, c1, c2, c3); i += 1
    ...get(I), ...i32(4), SHL, ...tee(R),
    ...get(C0), ...store(0),
    ...get(R), ...get(C1), ...store(4),
    ...get(R), ...get(C2), ...store(8),
    ...get(R), ...get(C3), ...store(12),
    ...get(I), ...i32(1), ADD, ...set(I),
    BR, 0,
    END, END,
    END,
  ];
  const i32Type = [0x7f];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(1, vec([[0x60, ...vec([i32Type, i32Type, i32Type, i32Type, i32Type]), 0]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0, 1]])), // one 64 KiB page
    ...section(
      7,
      vec([
        [...name("blocks"), 0, 0],
        [...name("memory"), 2, 0],
      ]),
    ),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}
