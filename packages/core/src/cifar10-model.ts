/**
 * Loads the ImageNet ResNet-18 that turns preprocessed CIFAR-10 images into 512 features, checks its
 * input and output shapes, and runs it in batches with onnxruntime-node.
 *
 * Formats (both take RGB NCHW float32 [N, 3, 224, 224] normalised with the ImageNet mean/std):
 * - "torchvision": torchvision's resnet18(IMAGENET1K_V1) exported with fc = Identity, output [N, 512]
 *   (or the pooled [N, 512, 1, 1]); what the paper used.
 * - "zoo": the ONNX model zoo's resnet18-v1-7 (MXNet Gluon weights, input "data", output 1000 logits);
 *   the graph is cut at its last GlobalAveragePool (resnetv15_pool1_fwd, [N, 512, 1, 1]).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import os from "node:os";
import type { InferenceSession } from "onnxruntime-node";
import { MODEL_IMAGE_SIZE } from "./cifar10-preprocess.ts";
import type { Device } from "./engine/types.ts";

export type ModelFormat = "torchvision" | "zoo";
export const MODEL_FORMATS: readonly ModelFormat[] = ["torchvision", "zoo"];
export const FEATURE_DIM = 512;

/** A model file that is missing, unreadable, or has the wrong inputs or outputs; names the file. */
export class FeatureModelError extends Error {
  override name = "FeatureModelError";
}

export interface FeatureModelOptions {
  format?: ModelFormat;
  device?: Device;
  /** Intra-op threads (default: every core). */
  threads?: number;
}

export interface FeatureModel {
  path: string;
  /** SHA-256 of the model file as given (before any cut). */
  sha256: string;
  format: ModelFormat;
  device: Device;
  threads: number;
  inputName: string;
  outputName: string;
  /** The batch size the model fixes, or null when dimension 0 is symbolic. */
  fixedBatch: number | null;
  /** Runs n preprocessed images (n·3·224·224 floats) and returns n·512 features. */
  run(input: Float32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/**
 * Makes the output of the last GlobalAveragePool node the graph's only output and drops every node,
 * initializer and input that no longer leads to it (the zoo model's Flatten → Gemm classifier).
 */
export async function cutAtGlobalPool(bytes: Uint8Array, path: string): Promise<Uint8Array> {
  // Loaded here, not at the top: only the zoo format needs the protobuf classes.
  const { onnx } = (await import("onnx-proto")).default;
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new FeatureModelError(`${path}: not an ONNX model (${(err as Error).message})`);
  }
  const graph = model.graph!;
  const nodes = graph.node ?? [];
  const pool = nodes.findLast((n) => n.opType === "GlobalAveragePool");
  if (!pool) {
    throw new FeatureModelError(
      `${path}: --model-format zoo cuts the graph at its global average pool, but the model has no GlobalAveragePool node`,
    );
  }
  const pooled = pool.output![0];
  const needed = new Set([pooled]);
  const kept: typeof nodes = [];
  for (let k = nodes.indexOf(pool); k >= 0; k--) {
    const node = nodes[k];
    if (!node.output!.some((o) => needed.has(o))) continue;
    kept.unshift(node);
    for (const i of node.input ?? []) if (i) needed.add(i);
  }
  graph.node = kept;
  graph.initializer = (graph.initializer ?? []).filter((t) => needed.has(t.name!));
  graph.input = (graph.input ?? []).filter((v) => needed.has(v.name!));
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => needed.has(v.name!));
  graph.output = [
    onnx.ValueInfoProto.create({
      name: pooled,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } },
    }),
  ];
  return onnx.ModelProto.encode(model).finish();
}

type Dim = number | string;
const show = (shape: readonly Dim[]) =>
  `[${shape.map((d) => (typeof d === "number" ? d : d || "?")).join(", ")}]`;
/** A declared dimension fits `want` when it is symbolic (a name, or -1) or equal. */
const fits = (d: Dim, want: number) => typeof d === "string" || d < 0 || d === want;

function checkInput(meta: InferenceSession.ValueMetadata, path: string): number | null {
  if (!meta.isTensor || meta.type !== "float32") {
    throw new FeatureModelError(`${path}: input "${meta.name}" must be a float32 tensor`);
  }
  const s = meta.shape;
  const want = [3, MODEL_IMAGE_SIZE, MODEL_IMAGE_SIZE];
  if (s.length > 0 && (s.length !== 4 || !want.every((w, k) => fits(s[k + 1], w)))) {
    throw new FeatureModelError(
      `${path}: input "${meta.name}" has shape ${show(s)}, expected [N, 3, 224, 224] (RGB, NCHW)`,
    );
  }
  return s.length === 4 && typeof s[0] === "number" && s[0] > 0 ? s[0] : null;
}

function checkOutput(meta: InferenceSession.ValueMetadata, path: string, format: ModelFormat): void {
  if (!meta.isTensor || meta.type !== "float32") {
    throw new FeatureModelError(`${path}: output "${meta.name}" must be a float32 tensor`);
  }
  const s = meta.shape;
  if (s.length === 0) return; // undeclared: checked on the first batch
  const ok =
    fits(s[1] ?? 0, FEATURE_DIM) && (s.length === 2 || (s.length === 4 && fits(s[2], 1) && fits(s[3], 1)));
  if (ok) return;
  const hint =
    format === "torchvision" && s.length === 2 && s[1] === 1000
      ? ": the classifier is still attached. Export with model.fc = torch.nn.Identity(), or pass --model-format zoo to cut the graph at its global average pool"
      : "";
  throw new FeatureModelError(
    `${path}: output "${meta.name}" has shape ${show(s)}, expected [N, 512] or [N, 512, 1, 1] (ResNet-18's pooled features)${hint}`,
  );
}

async function providerFor(device: Device): Promise<string> {
  if (device === "cpu") return "cpu";
  if (device !== "cuda")
    throw new FeatureModelError(`device must be "cpu" or "cuda", got "${String(device)}"`);
  const { cudaProviderPath } = await import("./engine/onnx.ts");
  if (!existsSync(cudaProviderPath())) {
    throw new FeatureModelError(
      `device "cuda" needs onnxruntime-node's CUDA execution provider (${cudaProviderPath()} is missing); on a GPU host run "node node_modules/onnxruntime-node/script/install.js --onnxruntime-node-install=cuda12"`,
    );
  }
  return "cuda";
}

async function readModel(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new FeatureModelError(`${path}: cannot read the model (${(err as Error).message})`);
  }
}

/** Loads, checks and wraps the feature model; the session uses `threads` intra-op threads. */
export async function loadFeatureModel(
  path: string,
  options: FeatureModelOptions = {},
): Promise<FeatureModel> {
  const { format = "torchvision", device = "cpu" } = options;
  const threads = options.threads ?? os.availableParallelism();
  if (!MODEL_FORMATS.includes(format)) {
    throw new FeatureModelError(`model format must be one of ${MODEL_FORMATS.join(", ")}, got "${format}"`);
  }
  if (!(Number.isInteger(threads) && threads > 0)) {
    throw new FeatureModelError(`threads must be a positive integer, got ${threads}`);
  }
  const provider = await providerFor(device);
  const file = await readModel(path);
  const sha256 = createHash("sha256").update(file).digest("hex");
  const bytes = format === "zoo" ? await cutAtGlobalPool(file, path) : file;
  const ort = await import("onnxruntime-node");
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: [provider],
      graphOptimizationLevel: "all",
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
    });
  } catch (err) {
    throw new FeatureModelError(`${path}: onnxruntime cannot load the model (${String(err)})`);
  }
  try {
    if (session.inputMetadata.length !== 1 || session.outputMetadata.length !== 1) {
      throw new FeatureModelError(
        `${path}: expected one input and one output, got inputs ${JSON.stringify(session.inputNames)} and outputs ${JSON.stringify(session.outputNames)}`,
      );
    }
    const fixedBatch = checkInput(session.inputMetadata[0], path);
    checkOutput(session.outputMetadata[0], path, format);
    const [inputName] = session.inputNames;
    const [outputName] = session.outputNames;
    const run = async (input: Float32Array, n: number): Promise<Float32Array> => {
      const feeds = {
        [inputName]: new ort.Tensor("float32", input.subarray(0, n * 3 * MODEL_IMAGE_SIZE ** 2), [
          n,
          3,
          MODEL_IMAGE_SIZE,
          MODEL_IMAGE_SIZE,
        ]),
      };
      const out = (await session.run(feeds))[outputName];
      const d = out.dims;
      const ok =
        d[0] === n &&
        d[1] === FEATURE_DIM &&
        (d.length === 2 || (d.length === 4 && d[2] === 1 && d[3] === 1));
      if (!ok || out.type !== "float32") {
        throw new FeatureModelError(
          `${path}: output "${outputName}" came back as ${out.type} ${show(d)} for ${n} images, expected [${n}, 512] or [${n}, 512, 1, 1]`,
        );
      }
      return out.data as Float32Array;
    };
    return {
      path,
      sha256,
      format,
      device,
      threads,
      inputName,
      outputName,
      fixedBatch,
      run,
      release: () => session.release(),
    };
  } catch (err) {
    await session.release();
    throw err;
  }
}
