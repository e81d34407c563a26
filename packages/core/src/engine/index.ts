/**
 * The compute engines of packages/core (see ./types.ts for the interface and layouts).
 * Engines other than the reference are loaded on demand so that their native or optional
 * dependencies are only touched when asked for.
 */
import { createReferenceEngine } from "./reference.ts";
import type { Engine, EngineName, EngineOptions } from "./types.ts";
import { EngineInputError } from "./validate.ts";

export { referenceStep } from "./reference.ts";
export type * from "./types.ts";
export { EngineInputError } from "./validate.ts";

export const ENGINE_NAMES: readonly EngineName[] = ["onnx", "tfjs", "reference", "webgpu"];

export async function createEngine(name: EngineName, options: EngineOptions = {}): Promise<Engine> {
  switch (name) {
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
        `unknown engine "${String(name)}"; expected one of ${ENGINE_NAMES.join(", ")}`,
      );
  }
}
