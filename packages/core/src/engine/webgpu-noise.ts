/**
 * The GPU side of the noise definition (./philox.ts, "philox-v1"): each GPU thread computes one Philox
 * block of ξ with no sequential state, in float32, so its values match the CPU's `philoxNormals` up to
 * the last bits of log/cos/sin.
 */
export { PhiloxNoise, philox4x32 } from "./philox.ts";

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
