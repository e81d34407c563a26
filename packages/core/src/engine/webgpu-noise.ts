/**
 * A counter-based Gaussian stream (Philox4x32-10 + Box–Muller) that the webgpu engine can draw on
 * the GPU itself: draw k of fill number s depends only on (seed, s, k), so each GPU thread computes
 * its own values with no sequential state, and the CPU's `fill` computes the same numbers (up to the
 * last bits of log/cos/sin, which differ between the CPU's and the GPU's float32 math).
 *
 * The engines' default stream (rng.ts's GaussianStream: xoshiro128** + ziggurat) is sequential with
 * rejections, so it cannot be split across GPU threads; with it the webgpu engine fills ξ on the CPU
 * and uploads it every step. Same seed → same trajectory on the same device, bit for bit, with either.
 */
import type { NoiseSource } from "./types.ts";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32 (16-bit halves: every partial product is exact). */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const m1 = ah * bl;
  const m2 = al * bh;
  const carry = (((al * bl) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff)) >>> 16;
  return (ah * bh + (m1 >>> 16) + (m2 >>> 16) + carry) >>> 0;
}

/** Philox4x32 with 10 rounds (Salmon et al. 2011, Random123's constants). */
export function philox4x32(ctr: readonly number[], key: readonly number[]): [number, number, number, number] {
  let [c0, c1, c2, c3] = ctr.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

const f = Math.fround;
const TWO_POW_M32 = 2 ** -32;

/**
 * Four N(0, 1) values from one Philox block, in float32 steps mirroring the WGSL (u in (0, 1],
 * r = sqrt(−2 ln u_a), angle π(2u_b − 1) in [−π, π] where GPU sin/cos are specified most tightly).
 */
function boxMuller(bits: readonly number[], out: Float32Array, at: number, count: number): void {
  for (let pair = 0; pair < 2 && pair * 2 < count; pair++) {
    const ua = f(f(f(bits[2 * pair]) + 0.5) * TWO_POW_M32);
    const ub = f(f(f(bits[2 * pair + 1]) + 0.5) * TWO_POW_M32);
    const r = f(Math.sqrt(f(-2 * f(Math.log(ua)))));
    const angle = f(f(Math.PI) * f(f(2 * ub) - 1));
    out[at + 2 * pair] = f(r * f(Math.cos(angle)));
    if (pair * 2 + 1 < count) out[at + 2 * pair + 1] = f(r * f(Math.sin(angle)));
  }
}

export class PhiloxNoise implements NoiseSource {
  /** The 64-bit seed as Philox's two key words. */
  readonly key: [number, number];
  private fills = 0;

  constructor(seed: bigint) {
    if (typeof seed !== "bigint")
      throw new TypeError(`PhiloxNoise: seed must be a bigint, got ${typeof seed}`);
    const s = BigInt.asUintN(64, seed);
    this.key = [Number(s & 0xffffffffn), Number(s >> 32n)];
  }

  /** Fills drawn so far (the next fill is number `position`). */
  get position(): number {
    return this.fills;
  }

  /** Value k of fill s is lane k mod 4 of Philox(counter = (⌊k/4⌋, s, 0, 0), key). */
  fill(out: Float32Array): void {
    const s = this.fills++;
    for (let block = 0; 4 * block < out.length; block++) {
      boxMuller(philox4x32([block, s, 0, 0], this.key), out, 4 * block, Math.min(4, out.length - 4 * block));
    }
  }

  /** Claims the next fill without computing it (the GPU draws it); returns its number. */
  take(): number {
    return this.fills++;
  }
}

/**
 * WGSL: ξ for fill number `p.fill`, one thread per Philox block of 4 values. Mirrors `PhiloxNoise`.
 */
export const PHILOX_NOISE = /* wgsl */ `
struct P { total: u32, fill: u32, k0: u32, k1: u32 }
@group(0) @binding(0) var<storage, read_write> xi: array<f32>;
@group(0) @binding(1) var<uniform> p: P;

fn mulhi(a: u32, b: u32) -> u32 {
  let al = a & 0xffffu; let ah = a >> 16u; let bl = b & 0xffffu; let bh = b >> 16u;
  let m1 = ah * bl; let m2 = al * bh;
  let carry = (((al * bl) >> 16u) + (m1 & 0xffffu) + (m2 & 0xffffu)) >> 16u;
  return ah * bh + (m1 >> 16u) + (m2 >> 16u) + carry;
}

fn philox(ctr: vec4u, key: vec2u) -> vec4u {
  var c = ctr; var k = key;
  for (var round = 0u; round < 10u; round++) {
    let hi0 = mulhi(0xd2511f53u, c.x); let lo0 = 0xd2511f53u * c.x;
    let hi1 = mulhi(0xcd9e8d57u, c.z); let lo1 = 0xcd9e8d57u * c.z;
    c = vec4u(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2u(0x9e3779b9u, 0xbb67ae85u);
  }
  return c;
}

fn normals(ua_bits: u32, ub_bits: u32) -> vec2f {
  let ua = (f32(ua_bits) + 0.5) * 2.3283064365386963e-10;
  let ub = (f32(ub_bits) + 0.5) * 2.3283064365386963e-10;
  let r = sqrt(-2.0 * log(ua));
  let angle = 3.1415927410125732 * (2.0 * ub - 1.0);
  return vec2f(r * cos(angle), r * sin(angle));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let block = gid.x + gid.y * nwg.x * 64u;
  let at = block * 4u;
  if (at >= p.total) { return; }
  let bits = philox(vec4u(block, p.fill, 0u, 0u), vec2u(p.k0, p.k1));
  let z01 = normals(bits.x, bits.y);
  let z23 = normals(bits.z, bits.w);
  xi[at] = z01.x;
  if (at + 1u < p.total) { xi[at + 1u] = z01.y; }
  if (at + 2u < p.total) { xi[at + 2u] = z23.x; }
  if (at + 3u < p.total) { xi[at + 3u] = z23.y; }
}`;
