/**
 * The GPU side of the noise definition (./philox.ts, "philox-v1"): each GPU thread computes one Philox
 * block of ξ with no sequential state, in float32, so its values match the CPU's `philoxNormals` up to
 * the last bits of log/cos/sin.
 */
export { PhiloxNoise, philox4x32 } from "./philox.ts";

/** WGSL: Philox4x32-10 and Box–Muller in float32, shared by both noise kernels. */
const PHILOX_FUNCTIONS = /* wgsl */ `
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
}`;

/**
 * WGSL: ξ for fill number `p.fill`, one thread per Philox block of 4 values. Mirrors `PhiloxNoise`.
 */
export const PHILOX_NOISE = /* wgsl */ `
struct P { total: u32, fill: u32, k0: u32, k1: u32 }
@group(0) @binding(0) var<storage, read_write> xi: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
${PHILOX_FUNCTIONS}

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

/**
 * WGSL: ξ of a column batch (job fusion) for the run's step `p.step`, one dispatch for every block.
 * Workgroup z is the block; block b (blocks[b]: key k0, k1, its step counter at the run's start, its
 * columns, its first column, its d·cols values, whether it draws) draws fill start + p.step of its own
 * key in its own d×cols layout, exactly as PHILOX_NOISE does for the job alone, and writes value e to
 * row ⌊e/cols⌋, column offset + e mod cols of the batch's ξ (row stride p.ld).
 */
export const PHILOX_BATCH_NOISE = /* wgsl */ `
struct P { ld: u32, step: u32, _p0: u32, _p1: u32 }
struct Block { k0: u32, k1: u32, start: u32, cols: u32, offset: u32, total: u32, draws: u32, _p: u32 }
@group(0) @binding(0) var<storage, read_write> xi: array<f32>;
@group(0) @binding(1) var<storage, read> blocks: array<Block>;
@group(0) @binding(2) var<uniform> p: P;
${PHILOX_FUNCTIONS}

fn put(b: Block, e: u32, v: f32) {
  if (e < b.total) { xi[(e / b.cols) * p.ld + b.offset + e % b.cols] = v; }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(workgroup_id) wid: vec3u) {
  let b = blocks[wid.z];
  let block = gid.x + gid.y * nwg.x * 64u;
  let at = block * 4u;
  if (b.draws == 0u || at >= b.total) { return; }
  let bits = philox(vec4u(block, b.start + p.step, 0u, 0u), vec2u(b.k0, b.k1));
  let z01 = normals(bits.x, bits.y);
  let z23 = normals(bits.z, bits.w);
  put(b, at, z01.x);
  put(b, at + 1u, z01.y);
  put(b, at + 2u, z23.x);
  put(b, at + 3u, z23.y);
}`;
