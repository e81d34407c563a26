import { describe, expect, it } from "vitest";
import { CIFAR10_RECORD_BYTES } from "./cifar10.ts";
import {
  bilinearTaps,
  CifarPreprocessor,
  IMAGENET_MEAN,
  IMAGENET_STD,
  MODEL_IMAGE_FLOATS,
} from "./cifar10-preprocess.ts";

/** Bilinear resize written out per output pixel (torch align_corners=False), to check the separable one. */
function naiveResize(src: Float64Array, S: number, T: number): Float64Array {
  const out = new Float64Array(T * T);
  const coord = (j: number) => {
    const s = Math.max(0, ((j + 0.5) * S) / T - 0.5);
    const lo = Math.min(Math.floor(s), S - 1);
    return { lo, hi: Math.min(lo + 1, S - 1), w: s - lo };
  };
  for (let y = 0; y < T; y++) {
    const cy = coord(y);
    for (let x = 0; x < T; x++) {
      const cx = coord(x);
      const at = (r: number, c: number) => src[r * S + c];
      out[y * T + x] =
        (1 - cy.w) * ((1 - cx.w) * at(cy.lo, cx.lo) + cx.w * at(cy.lo, cx.hi)) +
        cy.w * ((1 - cx.w) * at(cy.hi, cx.lo) + cx.w * at(cy.hi, cx.hi));
    }
  }
  return out;
}

describe("bilinearTaps (half-pixel centres, 32 → 224)", () => {
  const taps = bilinearTaps(32, 224);

  it("puts output pixel 7k+3 exactly on input pixel k and interpolates in between", () => {
    for (let k = 0; k < 32; k++) {
      expect(taps.lo[7 * k + 3]).toBe(k);
      expect(taps.w[7 * k + 3]).toBeCloseTo(0, 12);
    }
    // dst 4 → src 4.5/7 − 0.5 = 1/7 between pixels 0 and 1
    expect([taps.lo[4], taps.hi[4], taps.w[4]]).toEqual([0, 1, expect.closeTo(1 / 7, 12)]);
    // dst 9 → src 9.5/7 − 0.5 = 6/7
    expect([taps.lo[9], taps.hi[9], taps.w[9]]).toEqual([0, 1, expect.closeTo(6 / 7, 12)]);
  });

  it("clamps at the borders: the first and last 3 outputs copy the edge pixels", () => {
    for (const j of [0, 1, 2]) expect([taps.lo[j], taps.w[j]]).toEqual([0, 0]);
    for (const j of [221, 222, 223]) expect([taps.lo[j], taps.hi[j]]).toEqual([31, 31]);
  });
});

describe("CifarPreprocessor", () => {
  const record = new Uint8Array(2 * CIFAR10_RECORD_BYTES);
  for (let k = 0; k < record.length; k++) record[k] = (k * 37 + 11) % 256;

  it("equals the per-pixel bilinear resize of the ImageNet-normalised image, planes R, G, B", () => {
    const out = new Float32Array(MODEL_IMAGE_FLOATS + 5);
    new CifarPreprocessor().image(record, 1, out, 5);
    for (let c = 0; c < 3; c++) {
      const src = new Float64Array(1024);
      for (let k = 0; k < 1024; k++) {
        const v = record[CIFAR10_RECORD_BYTES + 1 + c * 1024 + k] / 255;
        src[k] = (v - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
      }
      const want = naiveResize(src, 32, 224);
      const got = out.subarray(5 + c * 224 * 224, 5 + (c + 1) * 224 * 224);
      let worst = 0;
      for (let k = 0; k < want.length; k++) worst = Math.max(worst, Math.abs(got[k] - want[k]));
      expect(worst).toBeLessThan(1e-5);
    }
  });

  it("maps a constant image to its normalised constant (white: (1 − mean)/std)", () => {
    const white = new Uint8Array(CIFAR10_RECORD_BYTES).fill(255);
    const out = new Float32Array(MODEL_IMAGE_FLOATS);
    new CifarPreprocessor().image(white, 0, out, 0);
    for (let c = 0; c < 3; c++) {
      const plane = out.subarray(c * 224 * 224, (c + 1) * 224 * 224);
      const want = (1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
      expect(plane.reduce((a, v) => Math.min(a, v), Infinity)).toBeCloseTo(want, 5);
      expect(plane.reduce((a, v) => Math.max(a, v), -Infinity)).toBeCloseTo(want, 5);
    }
  });
});
