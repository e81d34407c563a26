/**
 * Seeded randomness for every draw in packages/core (docs/science.md: same seed → identical numbers).
 *
 * - `deriveSeed(...parts)`: SHA-256 of the parts → a 64-bit seed, so each purpose gets its own stream
 *   (e.g. the replacement of row j is drawn from `deriveSeed(seed, "replace", j)`).
 * - `GaussianStream`: xoshiro128** (32-bit integer arithmetic only, so it is bit-identical on every
 *   platform and JS engine) seeded through splitmix64, turned into N(0, 1) by a 256-layer ziggurat.
 *   The ziggurat takes one 32-bit draw per normal ~99% of the time: filling 78,400 float32 values
 *   (one MNIST step with 100 chains) costs well under a millisecond (see rng.test.ts / README).
 */
import { createHash } from "node:crypto";
import type { NoiseSource } from "./engine/types.ts";

export type SeedPart = string | number | bigint;

const MASK64 = (1n << 64n) - 1n;

/**
 * Hashes `parts` into a 64-bit seed. Integers are encoded the same whether given as number or bigint
 * (a seed of 7 from a JSON config and 7n from a protobuf uint64 name the same stream); strings and
 * non-integer numbers carry their own tags, and every part is length-prefixed so that no two
 * different lists of parts encode alike.
 */
export function deriveSeed(...parts: SeedPart[]): bigint {
  const hash = createHash("sha256");
  hash.update("unlearn-sweep/deriveSeed/v1");
  for (const [index, part] of parts.entries()) {
    let encoded: string;
    if (typeof part === "bigint") encoded = `i${part.toString()}`;
    else if (typeof part === "number") {
      if (!Number.isFinite(part))
        throw new RangeError(`deriveSeed: part ${index} is ${part}, not a finite number`);
      encoded = Number.isInteger(part) ? `i${BigInt(part).toString()}` : `f${part.toString()}`;
    } else if (typeof part === "string") encoded = `s${part}`;
    else
      throw new TypeError(
        `deriveSeed: part ${index} has type ${typeof part}; expected string, number or bigint`,
      );
    const bytes = Buffer.from(encoded, "utf8");
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length);
    hash.update(bytes);
  }
  return hash.digest().readBigUInt64BE(0);
}

/** splitmix64, the seeding generator recommended by xoshiro's authors (spreads any seed over the state). */
function splitmix64(state: bigint): { state: bigint; value: bigint } {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return { state: next, value: z ^ (z >> 31n) };
}

// Ziggurat tables (Marsaglia & Tsang 2000, in Doornik's 2005 "ZIGNOR" form) for 256 layers of equal
// area v under exp(−x²/2); r is the start of the tail. Computed once in float64; Math.exp/log/sqrt
// are deterministic in V8, so the tables are identical everywhere the stream runs.
const LAYERS = 256;
const ZIG_R = 3.6541528853610088;
const ZIG_V = 0.00492867323399;
const ZIG_X = new Float64Array(LAYERS + 1);
const ZIG_RATIO = new Float64Array(LAYERS);
{
  let f = Math.exp(-0.5 * ZIG_R * ZIG_R);
  ZIG_X[0] = ZIG_V / f; // the base layer is a rectangle of width v/f plus the tail beyond r
  ZIG_X[1] = ZIG_R;
  ZIG_X[LAYERS] = 0;
  for (let i = 2; i < LAYERS; i++) {
    ZIG_X[i] = Math.sqrt(-2 * Math.log(ZIG_V / ZIG_X[i - 1] + f));
    f = Math.exp(-0.5 * ZIG_X[i] * ZIG_X[i]);
  }
  for (let i = 0; i < LAYERS; i++) ZIG_RATIO[i] = ZIG_X[i + 1] / ZIG_X[i];
}
const TWO_POW_M23 = 2 ** -23;
const TWO_POW_M32 = 2 ** -32;

/**
 * A seeded N(0, 1) stream (xoshiro128** + ziggurat). Same seed → the same sequence of values, whatever
 * the sizes of the `fill` calls that consume it.
 */
export class GaussianStream implements NoiseSource {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: bigint) {
    if (typeof seed !== "bigint")
      throw new TypeError(`GaussianStream: seed must be a bigint, got ${typeof seed}`);
    let state = BigInt.asUintN(64, seed);
    const words: number[] = [];
    for (let k = 0; k < 2; k++) {
      const r = splitmix64(state);
      state = r.state;
      words.push(Number(r.value & 0xffffffffn) | 0, Number(r.value >> 32n) | 0);
    }
    [this.s0, this.s1, this.s2, this.s3] = words;
    // xoshiro's only bad state is all zeros; splitmix64 output makes it practically impossible, but
    // the guard keeps the generator valid for every seed.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /**
   * A stream started from an explicit xoshiro128** state (four 32-bit words, not all zero); for
   * checking the generator against its published reference outputs.
   */
  static fromState(state: readonly [number, number, number, number]): GaussianStream {
    if ((state[0] | state[1] | state[2] | state[3]) === 0) {
      throw new RangeError("GaussianStream.fromState: the all-zero state is invalid for xoshiro128**");
    }
    const stream = new GaussianStream(0n);
    [stream.s0, stream.s1, stream.s2, stream.s3] = state.map((w) => w | 0);
    return stream;
  }

  /** The next uniform 32-bit unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  nextUniform(): number {
    return this.nextUint32() * TWO_POW_M32;
  }

  /** Uniform integer in [0, bound) without modulo bias (rejection of the incomplete last block). */
  nextBelow(bound: number): number {
    if (!Number.isInteger(bound) || bound < 1 || bound > 2 ** 32) {
      throw new RangeError(`GaussianStream.nextBelow: bound ${bound} must be an integer in [1, 2^32]`);
    }
    const limit = 2 ** 32 - (2 ** 32 % bound);
    for (;;) {
      const u = this.nextUint32();
      if (u < limit) return u % bound;
    }
  }

  /** One N(0, 1) draw in float64. */
  nextGaussian(): number {
    for (;;) {
      const bits = this.nextUint32();
      // Low 8 bits pick the layer, the high 24 bits make the signed abscissa: disjoint bits, so
      // the layer and the value are independent (the flaw Doornik fixed in the original ziggurat).
      const i = bits & 0xff;
      const u = ((bits >>> 8) + 0.5) * TWO_POW_M23 - 1;
      if (Math.abs(u) < ZIG_RATIO[i]) return u * ZIG_X[i];
      const x = this.slowPath(i, u);
      if (x !== null) return x;
    }
  }

  /** Fills `out` with independent N(0, 1) draws (the hot path: state kept in locals). */
  fill(out: Float32Array): void {
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    const len = out.length;
    for (let k = 0; k < len; ) {
      const bits = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      const i = bits & 0xff;
      const u = ((bits >>> 8) + 0.5) * TWO_POW_M23 - 1;
      if (Math.abs(u) < ZIG_RATIO[i]) {
        out[k++] = u * ZIG_X[i];
        continue;
      }
      // Rare (about 1% of draws): hand the state back, take the exact wedge/tail test, resume.
      this.s0 = s0;
      this.s1 = s1;
      this.s2 = s2;
      this.s3 = s3;
      const x = this.slowPath(i, u);
      if (x !== null) out[k++] = x;
      s0 = this.s0;
      s1 = this.s1;
      s2 = this.s2;
      s3 = this.s3;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  /** The ziggurat's rejection step: the tail for layer 0, the wedge test otherwise; null = draw again. */
  private slowPath(i: number, u: number): number | null {
    if (i === 0) {
      // Tail beyond r (Marsaglia 1964): exact, needs two uniforms per try.
      let x: number;
      let y: number;
      do {
        x = Math.log(1 - this.nextUniform()) / ZIG_R;
        y = Math.log(1 - this.nextUniform());
      } while (-2 * y < x * x);
      return u < 0 ? x - ZIG_R : ZIG_R - x;
    }
    const x = u * ZIG_X[i];
    const f0 = Math.exp(-0.5 * (ZIG_X[i] * ZIG_X[i] - x * x));
    const f1 = Math.exp(-0.5 * (ZIG_X[i + 1] * ZIG_X[i + 1] - x * x));
    return f1 + this.nextUniform() * (f0 - f1) < 1 ? x : null;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
