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

/** Round keys of one key, reused across fills (no allocation on the hot path). */
const roundKeys = new Int32Array(20);
/** The last block's four values, for a fill whose length is not a multiple of 4. */
const tail = new Float64Array(4);

/**
 * Writes ξ(key, step, e) for e = first … first + count − 1 into out[at …], each multiplied by `scale`
 * (then rounded to float32: scale·ξ, ξ itself rounded first). The hot path: 78,400 values (one MNIST
 * step at T = 100) took 3 ms on one core of the shared 2-core development machine, under load.
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
  for (let r = 0; r < 10; r++) {
    roundKeys[2 * r] = (key[0] + r * W0) | 0;
    roundKeys[2 * r + 1] = (key[1] + r * W1) | 0;
  }
  const end = at + count;
  const whole = at + (count & ~3);
  let block = first / 4;
  for (let i = at; i < end; i += 4, block++) {
    // c0 and c2 are kept as uint32 for the float64 products; c1 and c3 only meet XOR and imul.
    let c0 = block >>> 0;
    let c1 = step | 0;
    let c2 = 0;
    let c3 = 0;
    for (let r = 0; r < 20; r += 2) {
      const lo0 = Math.imul(M0, c0);
      const lo1 = Math.imul(M1, c2);
      const hi0 = Math.round((c0 * M0 - (lo0 >>> 0)) * TWO_POW_M32);
      const hi1 = Math.round((c2 * M1 - (lo1 >>> 0)) * TWO_POW_M32);
      c0 = (hi1 ^ c1 ^ roundKeys[r]) >>> 0;
      c1 = lo1;
      c2 = (hi0 ^ c3 ^ roundKeys[r + 1]) >>> 0;
      c3 = lo0;
    }
    const r0 = Math.sqrt(-2 * Math.log((c0 + 0.5) * TWO_POW_M32));
    const t0 = Math.PI * (((c1 >>> 0) + 0.5) * (2 * TWO_POW_M32) - 1);
    const r1 = Math.sqrt(-2 * Math.log((c2 + 0.5) * TWO_POW_M32));
    const t1 = Math.PI * (((c3 >>> 0) + 0.5) * (2 * TWO_POW_M32) - 1);
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
