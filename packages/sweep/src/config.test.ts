import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, findSweepsDir, loadConfig, parseConfig } from "./config.ts";

const fig5 = {
  name: "t",
  figure: "fig5",
  dataset: "mnist-3v8",
  removals: [1, 10],
  epsilons: [1],
  sigma: 0.03,
};

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfig", () => {
  it("fills the paper's defaults", () => {
    const c = parseConfig(fig5);
    expect(c).toMatchObject({
      lambda: 1e-6,
      smoothness: "data",
      chains: 100,
      burnIn: 10000,
      seed: 0,
      engine: "onnx",
    });
  });

  it("rejects unknown fields, naming them and the allowed ones", () => {
    const message = errorOf(() => parseConfig({ ...fig5, chain: 3 }, "x.json"));
    expect(message).toContain("x.json");
    expect(message).toMatch(/chain: unknown field; allowed fields: .*chains/);
  });

  it("names the field and the allowed values of an enum", () => {
    expect(errorOf(() => parseConfig({ ...fig5, engine: "torch" }))).toMatch(
      /engine: expected one of "onnx" \| "tfjs" \| "reference" \| "webgpu" \(got "torch"\)/,
    );
    expect(errorOf(() => parseConfig({ ...fig5, figure: "fig6" }))).toMatch(
      /figure: expected one of "fig3a".*"fig5" \(got "fig6"\)/,
    );
    expect(errorOf(() => parseConfig({ ...fig5, smoothness: "tight" }))).toMatch(
      /smoothness: expected one of "data" \| "bound"/,
    );
  });

  it("names nested array positions and bad numbers", () => {
    const message = errorOf(() => parseConfig({ ...fig5, removals: [1, -2], chains: 1.5, sigma: 0 }));
    expect(message).toMatch(/removals\[1\]: .*>0.*got -2|removals\[1\]: .*>=1.*got -2/);
    expect(message).toMatch(/chains: expected int.*got 1.5/);
    expect(message).toMatch(/sigma: .*got 0/);
  });

  it("reports missing fields and bad datasets", () => {
    expect(errorOf(() => parseConfig({ ...fig5, epsilons: undefined }))).toMatch(/epsilons: .*missing/);
    expect(errorOf(() => parseConfig({ ...fig5, dataset: "mnist" }))).toMatch(
      /dataset: expected one of "mnist-3v8"/,
    );
    expect(parseConfig({ ...fig5, dataset: "synthetic?n=100&d=5" }).dataset).toBe("synthetic?n=100&d=5");
  });

  it("checks fig3b batch sizes divide the total", () => {
    const c = {
      name: "b",
      figure: "fig3b",
      dataset: "mnist-3v8",
      total: 100,
      batches: [5, 30],
      epsilon: 1,
      sigma: 0.03,
      d2dFactors: [1],
    };
    expect(errorOf(() => parseConfig(c))).toMatch(/batches\[1\]: batch size 30 does not divide total 100/);
  });

  it("names a sweep after the dataset a --dataset override gives it", () => {
    const preset = { ...fig5, name: "mnist-3v8 fig5" };
    const syn = "synthetic?n=500&d=16&test=100&classes=2&seed=1";
    expect(parseConfig(preset, "c", { dataset: syn }).name).toBe(`${syn} fig5`);
    expect(parseConfig({ ...fig5, name: "my grid" }, "c", { dataset: syn }).name).toBe(`my grid (${syn})`);
    expect(parseConfig(preset, "c", { dataset: "mnist-3v8" }).name).toBe("mnist-3v8 fig5");
    expect(parseConfig(preset, "c", { chains: 2 }).name).toBe("mnist-3v8 fig5");
  });

  it("validates overrides and names the flag", () => {
    expect(parseConfig(fig5, "c", { chains: 4, burnIn: 20, seed: 9 })).toMatchObject({
      chains: 4,
      burnIn: 20,
      seed: 9,
    });
    expect(errorOf(() => parseConfig(fig5, "c", { chains: 0 }))).toMatch(
      /chains: .*got 0\) \(from --chains\)/,
    );
    expect(errorOf(() => parseConfig(fig5, "c", { engine: "gpu" }))).toMatch(
      /engine: expected one of .*\(from --engine\)/,
    );
  });
});

describe("loadConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "sweep-config-"));
  mkdirSync(join(dir, "sweeps"));
  mkdirSync(join(dir, "a", "b"), { recursive: true });
  writeFileSync(join(dir, "sweeps", "mine.json"), JSON.stringify(fig5));
  writeFileSync(join(dir, "sweeps", "broken.json"), "{ nope");
  writeFileSync(
    join(dir, "sweeps", "cifar.json"),
    JSON.stringify({ ...fig5, dataset: "cifar10-3v8", featuresDir: "../features" }),
  );

  it("resolves a bare preset name by searching upward for sweeps/", () => {
    const cwd = join(dir, "a", "b");
    expect(findSweepsDir(cwd)).toBe(join(dir, "sweeps"));
    expect(loadConfig("mine", {}, cwd).path).toBe(join(dir, "sweeps", "mine.json"));
    expect(loadConfig("mine.json", {}, cwd).config.figure).toBe("fig5");
  });

  it("names the file when it is missing or not JSON", () => {
    expect(errorOf(() => loadConfig("nothere", {}, dir))).toMatch(/config file "nothere" not found/);
    expect(errorOf(() => loadConfig("broken", {}, dir))).toMatch(/broken\.json: not valid JSON/);
  });

  it("requires the features folder of CIFAR datasets, naming field and path", () => {
    expect(errorOf(() => loadConfig("cifar", {}, dir))).toMatch(
      new RegExp(`featuresDir: "${join(dir, "features")}" does not exist`),
    );
    mkdirSync(join(dir, "features"));
    expect(loadConfig("cifar", {}, dir).config.featuresDir).toBe(join(dir, "features"));
    expect(errorOf(() => loadConfig("mine", { dataset: "cifar10-multi" }, dir))).toMatch(
      /featuresDir: required/,
    );
  });
});

describe("the presets in sweeps/", () => {
  const sweeps = findSweepsDir(import.meta.dirname)!;
  const files = readdirSync(sweeps).filter((f) => f.endsWith(".json"));

  it("are all there", () => {
    for (const f of ["fig3a", "fig3b", "fig3c", "fig4", "fig5"]) {
      expect(files).toContain(`${f}.json`);
      expect(files).toContain(`cifar10-3v8-${f}.json`);
    }
    for (const f of ["fig3a", "fig3b", "fig5"]) expect(files).toContain(`cifar10-multi-${f}.json`);
  });

  it("validate and carry the paper's settings", () => {
    for (const file of files) {
      const raw = JSON.parse(readFileSync(join(sweeps, file), "utf8"));
      const c = parseConfig(raw, file);
      expect(c, file).toMatchObject({ chains: 100, burnIn: 10000, lambda: 1e-6, smoothness: "data" });
      if (c.figure === "fig5") expect(c.sigma, file).toBe(c.dataset === "cifar10-multi" ? 0.015 : 0.03);
    }
  });

  it("the CIFAR presets fail clearly when the features are absent", () => {
    expect(errorOf(() => loadConfig(join(sweeps, "cifar10-3v8-fig5.json")))).toMatch(
      /featuresDir: ".*" does not exist/,
    );
  });
});
