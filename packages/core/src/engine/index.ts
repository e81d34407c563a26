/**
 * The compute engines of packages/core (see ./types.ts for the interface and layouts).
 * Engines other than the reference are loaded on demand so that their native or optional
 * dependencies are only touched when asked for.
 */
import type { createGemmProbe as GemmProbe } from "./onnx.ts";
import { createReferenceEngine } from "./reference.ts";
import type { AutoOptions } from "./select.ts";
import type { Engine, EngineName } from "./types.ts";
import { EngineInputError } from "./validate.ts";

export {
  type BatchJob,
  type BatchLayout,
  type BatchRunOptions,
  type BatchRunReport,
  batchLayout,
  materialise,
  pack,
  runColumnBatch,
  unpack,
} from "./batch.ts";
export { NOISE_VERSION, PhiloxNoise, philoxKey, philoxNormals } from "./philox.ts";
export { referenceBatchStep, referenceStep } from "./reference.ts";
export type * from "./types.ts";
export { EngineInputError } from "./validate.ts";

export const ENGINE_NAMES: readonly EngineName[] = ["onnx", "tfjs", "reference", "webgpu"];

/** `auto` is not an engine: it probes the candidates (./select.ts) and returns the fastest. */
export type EngineChoice = EngineName | "auto";
export type { AutoChoice, AutoOptions, ProbeResult } from "./select.ts";

export async function createEngine(name: EngineChoice, options: AutoOptions = {}): Promise<Engine> {
  switch (name) {
    case "auto":
      return (await import("./select.ts")).selectEngine(createEngine, options).then((c) => c.engine);
    case "reference":
      return createReferenceEngine(options);
    case "onnx":
      return (await import("./onnx.ts")).createOnnxEngine(options);
    case "tfjs":
      return (await import("./tfjs.ts")).createTfjsEngine(options);
    case "webgpu":
      return (await import("./webgpu.ts")).createWebGpuEngine(options);
    default:
      throw new EngineInputError(
        `unknown engine "${String(name)}"; expected one of ${ENGINE_NAMES.join(", ")}, auto`,
      );
  }
}

/** The onnx engine's two matrix products alone, as bench:step's yardstick (loads onnxruntime on demand). */
export async function createGemmProbe(...args: Parameters<typeof GemmProbe>): ReturnType<typeof GemmProbe> {
  return (await import("./onnx.ts")).createGemmProbe(...args);
}

/**
 * Job fusion: the widest column batch (columns of W) an engine is given by the scheduler. A CPU
 * engine's width is where a wider batch stops lowering the time per column, measured with
 * `pnpm bench:step --chains 10,30,100,300,1000` (onnx, MNIST 3v8, 2 threads, shared 2-core Xeon VM,
 * 2026-12-05 03:39 UTC, load 3.5–5 from other work): ms per column 2.17 (T = 10), 1.14 (30), 0.42 (100),
 * 0.37 (300), 0.355 (1000): −12% from 100 to 300, −4% (within the noise) from 300 to 1000, while the
 * process grew from 460 to 561 to 899 MB (a step holds X and Xᵀ, 75 MB, plus a few n × T float32
 * matrices: 14 MB each at T = 300, 48 MB at 1000). So 300 for CPU engines. A GPU's width is large,
 * since one MNIST step at 100 columns is mostly launch overhead there.
 */
export function batchColumns(engine: string, device = "cpu"): number {
  if (engine === "webgpu" || device !== "cpu") return 10_000;
  return 300;
}
