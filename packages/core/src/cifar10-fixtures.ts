/**
 * Stand-ins for what cannot be downloaded here, for tests and timing (`@unlearn/core/cifar10-fixtures`):
 * - random-weight ONNX models with the feature extractor's contract (float32 [N, 3, 224, 224] in, 512
 *   features out), built with onnx-proto: a tiny one for tests, and one shaped exactly like torchvision's
 *   ResNet-18 without its fc layer (BatchNorm folded into the convolutions, as onnxruntime fuses it);
 * - synthetic CIFAR-10 batch files (random pixels, every class present) as a folder or a .tar.gz laid
 *   out like the official archive.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import onnxProto from "onnx-proto";
import { CIFAR10_FILES, CIFAR10_PIXEL_BYTES, CIFAR10_RECORD_BYTES } from "./cifar10.ts";
import { GraphBuilder } from "./engine/onnx-graph.ts";
import { deriveSeed, GaussianStream } from "./rng.ts";

const { onnx } = onnxProto;

/** Makes dimension 0 of every graph input and output the symbolic batch size "N". */
export function withSymbolicBatch(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  for (const value of [...model.graph!.input!, ...model.graph!.output!]) {
    const dims = value.type?.tensorType?.shape?.dim;
    if (dims && dims.length > 0) dims[0] = onnx.TensorShapeProto.Dimension.create({ dimParam: "N" });
  }
  return onnx.ModelProto.encode(model).finish();
}

function gaussian(seed: bigint, count: number, std: number, mean = 0): Float32Array {
  const out = new Float32Array(count);
  new GaussianStream(seed).fill(out);
  for (let k = 0; k < count; k++) out[k] = out[k] * std + mean;
  return out;
}

export interface TinyModelOptions {
  /** "flat": [N, C]; "pooled": [N, C, 1, 1]; "classifier": [N, 1000] after a Gemm, like the zoo's model. */
  head?: "flat" | "pooled" | "classifier";
  /** Feature channels C (default 512; other values exercise the shape check). */
  channels?: number;
  /** Input height and width (default 224). */
  imageSize?: number;
  /** A fixed batch size instead of the symbolic "N". */
  batch?: number;
  inputName?: string;
  seed?: number;
}

/**
 * input → AveragePool 8×8/8 → Conv 1×1 (3 → C) + bias → Relu → GlobalAveragePool [→ Flatten [→ Gemm]].
 * Cheap to run, and every feature depends on every preprocessed pixel.
 */
export function tinyFeatureModel(options: TinyModelOptions = {}): Uint8Array {
  const { head = "flat", channels = 512, imageSize = 224, inputName = "input", seed = 1 } = options;
  const g = new GraphBuilder("tiny-cifar10-features");
  const x = g.input(inputName, [options.batch ?? 1, 3, imageSize, imageSize]);
  const pooled8 = g.node("AveragePool", [x], { kernel_shape: [8, 8], strides: [8, 8] });
  const w = g.floatConst("conv_w", gaussian(deriveSeed(seed, "tiny", "w"), channels * 3, 1), [
    channels,
    3,
    1,
    1,
  ]);
  const b = g.floatConst("conv_b", gaussian(deriveSeed(seed, "tiny", "b"), channels, 0.5, 1), [channels]);
  const act = g.node("Relu", [g.node("Conv", [pooled8, w, b], { kernel_shape: [1, 1] })]);
  const gap = g.node("GlobalAveragePool", [act], {}, head === "pooled" ? "features" : undefined);
  const batch = options.batch ?? 1;
  if (head === "pooled") g.output("features", [batch, channels, 1, 1]);
  else if (head === "flat") {
    g.node("Flatten", [gap], { axis: 1 }, "features");
    g.output("features", [batch, channels]);
  } else {
    const flat = g.node("Flatten", [gap], { axis: 1 });
    const fc = g.floatConst("fc_w", gaussian(deriveSeed(seed, "tiny", "fc"), 1000 * channels, 0.05), [
      1000,
      channels,
    ]);
    const fcb = g.floatConst("fc_b", new Float32Array(1000), [1000]);
    g.node("Gemm", [flat, fc, fcb], { transB: 1 }, "logits");
    g.output("logits", [batch, 1000]);
  }
  const bytes = g.toBytes();
  return options.batch === undefined ? withSymbolicBatch(bytes) : bytes;
}

interface ConvSpec {
  cin: number;
  cout: number;
  k: number;
  stride: number;
}

/** A convolution with He-normal weights and a zero bias (a folded BatchNorm), optionally + Relu. */
function conv(g: GraphBuilder, x: string, spec: ConvSpec, name: string, seed: number, relu: boolean): string {
  const { cin, cout, k, stride } = spec;
  const w = g.floatConst(
    `${name}_w`,
    gaussian(deriveSeed(seed, "resnet18", name), cout * cin * k * k, Math.sqrt(2 / (cin * k * k))),
    [cout, cin, k, k],
  );
  const b = g.floatConst(`${name}_b`, new Float32Array(cout), [cout]);
  const pad = (k - 1) / 2;
  const y = g.node("Conv", [x, w, b], {
    kernel_shape: [k, k],
    strides: [stride, stride],
    pads: [pad, pad, pad, pad],
  });
  return relu ? g.node("Relu", [y]) : y;
}

/** torchvision's BasicBlock: conv3×3(stride) → relu → conv3×3, plus the (downsampled) input, → relu. */
function basicBlock(
  g: GraphBuilder,
  x: string,
  cin: number,
  cout: number,
  stride: number,
  name: string,
  seed: number,
) {
  const a = conv(g, x, { cin, cout, k: 3, stride }, `${name}_conv1`, seed, true);
  const b = conv(g, a, { cin: cout, cout, k: 3, stride: 1 }, `${name}_conv2`, seed, false);
  const skip =
    stride === 1 && cin === cout ? x : conv(g, x, { cin, cout, k: 1, stride }, `${name}_down`, seed, false);
  return g.node("Relu", [g.node("Add", [b, skip])]);
}

/**
 * ResNet-18 (torchvision layout, fc removed): conv 7×7/2 → maxpool 3×3/2 → 4 stages of 2 BasicBlocks
 * (64, 128, 256, 512 channels) → global average pool → flatten: [N, 3, 224, 224] → [N, 512], 11.2 M
 * random weights, the same 1.8 GFLOP per image as the pretrained model.
 */
export function resnet18FeatureModel(seed = 1): Uint8Array {
  const g = new GraphBuilder("resnet18-random-features");
  let x = g.input("input", [1, 3, 224, 224]);
  x = conv(g, x, { cin: 3, cout: 64, k: 7, stride: 2 }, "conv1", seed, true);
  x = g.node("MaxPool", [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  let cin = 64;
  for (const [stage, cout] of [64, 128, 256, 512].entries()) {
    x = basicBlock(g, x, cin, cout, stage === 0 ? 1 : 2, `layer${stage + 1}_0`, seed);
    x = basicBlock(g, x, cout, cout, 1, `layer${stage + 1}_1`, seed);
    cin = cout;
  }
  g.node("Flatten", [g.node("GlobalAveragePool", [x])], { axis: 1 }, "features");
  g.output("features", [1, 512]);
  return withSymbolicBatch(g.toBytes());
}

/**
 * The six batch files with `recordsPerFile` records each: random pixels, and labels that cycle through
 * all ten classes (record r of file f has label (3r + f) mod 10).
 */
export function syntheticCifar10Files(recordsPerFile: number, seed = 1): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const rng = new GaussianStream(deriveSeed(seed, "cifar10-synthetic"));
  for (const [f, name] of CIFAR10_FILES.entries()) {
    const bytes = Buffer.alloc(recordsPerFile * CIFAR10_RECORD_BYTES);
    for (let r = 0; r < recordsPerFile; r++) {
      const at = r * CIFAR10_RECORD_BYTES;
      bytes[at] = (3 * r + f) % 10;
      for (let k = 1; k <= CIFAR10_PIXEL_BYTES; k++) bytes[at + k] = rng.nextUint32() & 0xff;
    }
    files.set(name, bytes);
  }
  return files;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, "0")}\0`;
}

/** A ustar archive of regular files (with the two closing zero blocks). */
export function tarArchive(entries: { name: string; bytes: Uint8Array }[]): Buffer {
  const parts: Buffer[] = [];
  for (const { name, bytes } of entries) {
    const header = Buffer.alloc(512);
    header.write(name, 0, 100, "utf8");
    header.write(octal(0o644, 8), 100, "latin1");
    header.write(octal(0, 8), 108, "latin1");
    header.write(octal(0, 8), 116, "latin1");
    header.write(octal(bytes.length, 12), 124, "latin1");
    header.write(octal(0, 12), 136, "latin1");
    header.write("        ", 148, "latin1");
    header.write("0", 156, "latin1");
    header.write("ustar\0", 257, "latin1");
    header.write("00", 263, "latin1");
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    parts.push(header, Buffer.from(bytes), Buffer.alloc((512 - (bytes.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/**
 * Writes `files` like the official release: `<dir>/cifar-10-binary.tar.gz` holding
 * cifar-10-batches-bin/<file> (plus its readme), or the plain folder `<dir>/cifar-10-batches-bin/`.
 * Returns the path to give as --archive.
 */
export function writeCifar10(dir: string, files: Map<string, Buffer>, as: "tar.gz" | "folder"): string {
  if (as === "folder") {
    const folder = join(dir, "cifar-10-batches-bin");
    mkdirSync(folder, { recursive: true });
    for (const [name, bytes] of files) writeFileSync(join(folder, name), bytes);
    return folder;
  }
  const entries: { name: string; bytes: Uint8Array }[] = [
    { name: "cifar-10-batches-bin/readme.html", bytes: Buffer.from("<html></html>\n") },
  ];
  for (const [name, bytes] of files) entries.push({ name: `cifar-10-batches-bin/${name}`, bytes });
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "cifar-10-binary.tar.gz");
  writeFileSync(path, gzipSync(tarArchive(entries), { level: 1 }));
  return path;
}
