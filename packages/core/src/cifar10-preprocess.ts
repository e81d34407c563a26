/**
 * The paper's image preprocessing for the ResNet-18 features: each 32×32 CIFAR-10 image is resized to
 * 224×224 by bilinear interpolation and normalised with the ImageNet mean and standard deviation, giving
 * one NCHW float32 [3, 224, 224] block per image.
 *
 * Interpolation convention: half-pixel centres, src = (dst + 0.5)·(32/224) − 0.5, clamped to the image
 * (torch.nn.functional.interpolate(mode="bilinear", align_corners=False), which torchvision's Resize on
 * tensors uses; PIL's bilinear filter gives the same weights when upsampling, its antialiasing only
 * matters when shrinking). For 32→224 (×7) output pixel 7k+3 is input pixel k exactly.
 * Values stay in float: torchvision's PIL path rounds the resized image to uint8 before ToTensor, a
 * difference of at most 0.5/255 per pixel before normalisation.
 */
import { CIFAR10_IMAGE_SIZE, CIFAR10_RECORD_BYTES } from "./cifar10.ts";

export const MODEL_IMAGE_SIZE = 224;
/** ImageNet statistics of torchvision's (and the ONNX model zoo's) pretrained models, RGB order. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
/** Floats of one preprocessed image. */
export const MODEL_IMAGE_FLOATS = 3 * MODEL_IMAGE_SIZE * MODEL_IMAGE_SIZE;

/** 1-D linear interpolation taps: out[j] = (1 − w[j])·in[lo[j]] + w[j]·in[hi[j]]. */
export interface LinearTaps {
  lo: Int32Array;
  hi: Int32Array;
  w: Float64Array;
}

/** Taps for resizing `inSize` samples to `outSize` with half-pixel centres, clamped at the borders. */
export function bilinearTaps(inSize: number, outSize: number): LinearTaps {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const w = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let j = 0; j < outSize; j++) {
    // Clamping at 0 (as torch does) gives edge pixels the nearest input pixel, as PIL's clipped window does.
    const src = Math.max(0, (j + 0.5) * scale - 0.5);
    const l = Math.min(Math.floor(src), inSize - 1);
    lo[j] = l;
    hi[j] = Math.min(l + 1, inSize - 1);
    w[j] = l === inSize - 1 ? 0 : src - l;
  }
  return { lo, hi, w };
}

/**
 * Writes the preprocessed image of one CIFAR-10 record into `out` at `outOffset`.
 * Normalisation is applied to the 32×32 source first: it is affine per channel and the interpolation
 * weights sum to 1, so the result equals normalising after the resize, at 1/49 of the cost.
 */
export class CifarPreprocessor {
  private readonly taps = bilinearTaps(CIFAR10_IMAGE_SIZE, MODEL_IMAGE_SIZE);
  private readonly src = new Float64Array(CIFAR10_IMAGE_SIZE * CIFAR10_IMAGE_SIZE);
  private readonly rows = new Float64Array(CIFAR10_IMAGE_SIZE * MODEL_IMAGE_SIZE);

  /** `record` holds whole CIFAR-10 records (label byte first); `index` picks one. */
  image(record: Uint8Array, index: number, out: Float32Array, outOffset: number): void {
    const S = CIFAR10_IMAGE_SIZE;
    const T = MODEL_IMAGE_SIZE;
    const { lo, hi, w } = this.taps;
    const base = index * CIFAR10_RECORD_BYTES + 1;
    for (let c = 0; c < 3; c++) {
      const a = 1 / (255 * IMAGENET_STD[c]);
      const b = -IMAGENET_MEAN[c] / IMAGENET_STD[c];
      const plane = base + c * S * S;
      for (let k = 0; k < S * S; k++) this.src[k] = record[plane + k] * a + b;
      // Horizontal pass: 32 rows of 224.
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < T; x++) {
          const l = this.src[y * S + lo[x]];
          this.rows[y * T + x] = l + w[x] * (this.src[y * S + hi[x]] - l);
        }
      }
      // Vertical pass into the output plane.
      const dst = outOffset + c * T * T;
      for (let y = 0; y < T; y++) {
        const r0 = lo[y] * T;
        const r1 = hi[y] * T;
        const wy = w[y];
        const row = dst + y * T;
        for (let x = 0; x < T; x++) {
          const top = this.rows[r0 + x];
          out[row + x] = top + wy * (this.rows[r1 + x] - top);
        }
      }
    }
  }
}
