import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import onnxProto from "onnx-proto";
import { afterAll, describe, expect, it } from "vitest";
import { resnet18FeatureModel, type TinyModelOptions, tinyFeatureModel } from "./cifar10-fixtures.ts";
import { FeatureModelError, loadFeatureModel } from "./cifar10-model.ts";
import { MODEL_IMAGE_FLOATS } from "./cifar10-preprocess.ts";
import { cudaProviderPath } from "./engine/onnx.ts";
import { GraphBuilder } from "./engine/onnx-graph.ts";

const dir = mkdtempSync(join(tmpdir(), "cifar10-model-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function modelFile(name: string, options: TinyModelOptions = {}): string {
  const path = join(dir, `${name}.onnx`);
  writeFileSync(path, tinyFeatureModel(options));
  return path;
}

const images = (n: number) =>
  Float32Array.from({ length: n * MODEL_IMAGE_FLOATS }, (_, k) => Math.sin(k * 0.001));

async function features(path: string, format?: "torchvision" | "zoo", n = 3): Promise<Float32Array> {
  const model = await loadFeatureModel(path, { format, threads: 1 });
  try {
    return (await model.run(images(n), n)).slice();
  } finally {
    await model.release();
  }
}

describe("loadFeatureModel", () => {
  it("runs a [N, 3, 224, 224] → [N, 512] model on any batch size", async () => {
    const model = await loadFeatureModel(modelFile("flat"), { threads: 1 });
    expect([model.inputName, model.outputName, model.fixedBatch]).toEqual(["input", "features", null]);
    expect(model.sha256).toMatch(/^[0-9a-f]{64}$/);
    const one = await model.run(images(1), 1);
    const three = await model.run(images(3), 3);
    expect(one.length).toBe(512);
    expect(three.length).toBe(3 * 512);
    for (let k = 0; k < 512; k++) expect(three[k]).toBeCloseTo(one[k], 5);
    await model.release();
  });

  it("accepts the pooled [N, 512, 1, 1] output with the same features", async () => {
    const flat = await features(modelFile("flat2"));
    expect(await features(modelFile("pooled", { head: "pooled" }))).toEqual(flat);
  });

  it("cuts a zoo-style model (… → GlobalAveragePool → Flatten → Gemm [N, 1000]) at its pool", async () => {
    const zoo = modelFile("zoo", { head: "classifier", inputName: "data" });
    const flat = await features(modelFile("flat3"));
    expect(await features(zoo, "zoo")).toEqual(flat);
    await expect(loadFeatureModel(zoo)).rejects.toThrow(
      /zoo\.onnx: output "logits" has shape \[N, 1000\], expected \[N, 512\] .*classifier is still attached.*--model-format zoo/,
    );
  });

  it("cuts a legacy-style zoo file too (IR 3, opset 7, initializers listed as graph inputs)", async () => {
    const { onnx } = onnxProto;
    const m = onnx.ModelProto.decode(tinyFeatureModel({ head: "classifier", inputName: "data", seed: 8 }));
    m.irVersion = 3;
    m.opsetImport = [onnx.OperatorSetIdProto.create({ domain: "", version: 7 })];
    for (const t of m.graph!.initializer!) {
      m.graph!.input!.push(
        onnx.ValueInfoProto.create({
          name: t.name,
          type: {
            tensorType: { elemType: t.dataType, shape: { dim: t.dims!.map((d) => ({ dimValue: d })) } },
          },
        }),
      );
    }
    const legacy = join(dir, "legacy.onnx");
    writeFileSync(legacy, onnx.ModelProto.encode(m).finish());
    expect(await features(legacy, "zoo")).toEqual(await features(modelFile("flat8", { seed: 8 })));
  });

  it("refuses wrong input or output shapes, naming the file", async () => {
    await expect(loadFeatureModel(modelFile("narrow", { channels: 256 }))).rejects.toThrow(
      /narrow\.onnx: output "features" has shape \[N, 256\], expected \[N, 512\] or \[N, 512, 1, 1\]/,
    );
    await expect(loadFeatureModel(modelFile("small", { imageSize: 32 }))).rejects.toThrow(
      /small\.onnx: input "input" has shape \[N, 3, 32, 32\], expected \[N, 3, 224, 224\]/,
    );
    // the cut graph's output shape is inferred by onnxruntime, so the same check applies
    await expect(
      loadFeatureModel(modelFile("zoo256", { channels: 256, head: "classifier" }), { format: "zoo" }),
    ).rejects.toThrow(
      /zoo256\.onnx: output "globalaveragepool_\d+" has shape \[N, 256, 1, 1\], expected \[N, 512\] or \[N, 512, 1, 1\]/,
    );
  });

  it("reports a fixed batch size", async () => {
    const model = await loadFeatureModel(modelFile("fixed", { batch: 2 }), { threads: 1 });
    expect(model.fixedBatch).toBe(2);
    await model.release();
  });

  it("names a missing or non-ONNX file, and a zoo cut without a GlobalAveragePool", async () => {
    await expect(loadFeatureModel(join(dir, "absent.onnx"))).rejects.toThrow(
      /absent\.onnx: cannot read the model/,
    );
    writeFileSync(join(dir, "junk.onnx"), "not a model");
    await expect(loadFeatureModel(join(dir, "junk.onnx"))).rejects.toThrow(FeatureModelError);
    await expect(loadFeatureModel(join(dir, "junk.onnx"))).rejects.toThrow(
      /junk\.onnx: onnxruntime cannot load/,
    );
    const g = new GraphBuilder("no-pool");
    g.node("Flatten", [g.input("input", [1, 3, 224, 224])], { axis: 1 }, "flat");
    g.output("flat", [1, 3 * 224 * 224]);
    writeFileSync(join(dir, "nopool.onnx"), g.toBytes());
    await expect(loadFeatureModel(join(dir, "nopool.onnx"), { format: "zoo" })).rejects.toThrow(
      /nopool\.onnx: --model-format zoo cuts the graph at its global average pool, but the model has no GlobalAveragePool node/,
    );
    await expect(loadFeatureModel(modelFile("fmt"), { format: "keras" as "zoo" })).rejects.toThrow(
      /model format must be one of torchvision, zoo, got "keras"/,
    );
  });

  it.skipIf(existsSync(cudaProviderPath()))("explains that the CUDA provider is missing", async () => {
    await expect(loadFeatureModel(modelFile("cuda"), { device: "cuda" })).rejects.toThrow(
      /device "cuda" needs onnxruntime-node's CUDA execution provider/,
    );
  });

  it("builds a ResNet-18-shaped random model that passes the checks", async () => {
    const path = join(dir, "resnet18.onnx");
    writeFileSync(path, resnet18FeatureModel());
    const model = await loadFeatureModel(path, { threads: 1 });
    expect([model.fixedBatch, model.outputName]).toEqual([null, "features"]);
    const out = await model.run(images(1), 1);
    expect(out.length).toBe(512);
    expect(out.every(Number.isFinite)).toBe(true);
    await model.release();
  }, 60_000);
});
