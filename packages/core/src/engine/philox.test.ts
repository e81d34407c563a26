/**
 * The noise definition philox-v1: the fast fill is Philox4x32-10 (Random123's known answers, in
 * webgpu.test.ts) followed by Box–Muller, element by element, and depends on (key, step, element) only.
 */
import { describe, expect, it } from "vitest";
import { PhiloxNoise, philox4x32, philoxKey, philoxNormals } from "./philox.ts";

/** ξ(key, step, e) written out from the definition, one element at a time. */
function definition(key: [number, number], step: number, e: number): number {
  const bits = philox4x32([Math.floor(e / 4), step, 0, 0], key);
  const pair = (e % 4) >> 1;
  const u = (b: number) => (b + 0.5) * 2 ** -32;
  const r = Math.sqrt(-2 * Math.log(u(bits[2 * pair])));
  const theta = Math.PI * (2 * u(bits[2 * pair + 1]) - 1);
  return Math.fround(e % 2 === 0 ? r * Math.cos(theta) : r * Math.sin(theta));
}

describe("philox-v1", () => {
  const key = philoxKey(0x1234_5678_9abc_def0n);

  it("the fast fill equals the definition, element by element (a length that is not a multiple of 4)", () => {
    const out = new Float32Array(1003);
    philoxNormals(key, 77, out);
    for (let e = 0; e < out.length; e++) expect(out[e], `element ${e}`).toBe(definition(key, 77, e));
  });

  it("the WebAssembly rounds equal philox4x32 at large counters and steps (blocks around 2³¹, step 2³²−1)", () => {
    const first = 4 * (2 ** 31 - 3);
    const out = new Float32Array(4 * 4100 + 2); // more blocks than one call of the core takes
    philoxNormals(key, 0xffffffff, out, 0, out.length, first);
    for (const e of [0, 1, 2, 3, 4, 5, 11, 12, 13, 14, 15, 4 * 4096, 4 * 4096 + 3, out.length - 1])
      expect(out[e], `element ${e}`).toBe(definition(key, 0xffffffff, first + e));
  });

  it("any slice, any step, any start: the same values", () => {
    const whole = new Float32Array(400);
    philoxNormals(key, 5, whole);
    const part = new Float32Array(110);
    philoxNormals(key, 5, part, 3, 101, 200); // elements 200…300 written at 3…103
    expect(Array.from(part.subarray(3, 104))).toEqual(Array.from(whole.subarray(200, 301)));
    const resumed = new PhiloxNoise(0x1234_5678_9abc_def0n, 5);
    const again = new Float32Array(400);
    resumed.fill(again);
    expect(again).toEqual(whole);
    expect(resumed.position).toBe(6);
    const other = new Float32Array(400);
    philoxNormals(key, 6, other);
    expect(other).not.toEqual(whole);
  });

  it("scales after rounding ξ to float32, and refuses a counter it cannot represent", () => {
    const plain = new Float32Array(9);
    const scaled = new Float32Array(9);
    philoxNormals(key, 1, plain);
    philoxNormals(key, 1, scaled, 0, 9, 0, 0.25);
    expect(Array.from(scaled)).toEqual(Array.from(plain, (v) => Math.fround(0.25 * v)));
    expect(() => philoxNormals(key, 2 ** 32, plain)).toThrow(/step must be an integer in 0…2³²−1/);
    expect(() => philoxNormals(key, 0, plain, 0, 4, 2)).toThrow(/multiple of 4/);
  });
});
