/**
 * Golden values: stored results are found again by `jobId(spec)`, so a change to the proto encoding,
 * a field's number or type, or the hash silently re-keys every stored job (all of them recompute, and
 * old results are orphaned). These pins fail first; change them only deliberately, with a schema version.
 */
import { describe, expect, it } from "vitest";
import { JobKind, JobSpec, jobId, Smoothness } from "./index.ts";

/** Figure 5's unlearning job of the paper on MNIST (S = 100, σ = 0.03, K = 1485, 100 chains, seed 0). */
const fig5Unlearn = JobSpec.fromPartial({
  kind: JobKind.JOB_KIND_UNLEARN,
  dataset: "mnist-3v8",
  lambda: 1e-6,
  smoothness: Smoothness.SMOOTHNESS_DATA,
  sigma: 0.03,
  steps: 1485,
  chains: 100,
  seed: 0n,
  removals: 100,
  parentId: "0".repeat(64),
});

describe("golden job ids", () => {
  it("pins jobId of a fixed spec", () => {
    expect(jobId(fig5Unlearn)).toBe(GOLDEN.unlearn);
    expect(Buffer.from(JobSpec.encode(fig5Unlearn).finish()).toString("hex")).toBe(GOLDEN.encoding);
  });

  it("a features dataset is keyed by its content key, not by the folder it lies in", () => {
    const features = {
      ...fig5Unlearn,
      dataset: "cifar10-3v8",
      featuresKey: "25c6cf4383fbc44a2c5487dbc22d4841245815c4c5388a3c24becbe8cbd19832",
    };
    const here = jobId({ ...features, featuresPath: "/data/cifar-features" });
    expect(here).toBe(GOLDEN.features);
    expect(jobId({ ...features, featuresPath: "/elsewhere/moved" })).toBe(here);
    expect(
      jobId({ ...features, featuresPath: "/data/cifar-features", featuresKey: "d".repeat(64) }),
    ).not.toBe(here);
    // Without a key (the specs of earlier versions) the path still counts, so old ids are unchanged.
    expect(jobId({ ...features, featuresKey: "", featuresPath: "/a" })).not.toBe(
      jobId({ ...features, featuresKey: "", featuresPath: "/b" }),
    );
  });
});

const GOLDEN = {
  unlearn: "0d1976f4352c2bc2ad40fa9f9d19f007b19a0087e5e7396211c26c34272bd7a8",
  encoding: `080212096d6e6973742d337638218dedb5a0f7c6b03e280131b81e85eb51b89e3f38cd0b406450645a40${"30".repeat(64)}`,
  features: "f4c4c8e44d0da1d4b4a66ca02be414a35a003b07a50bb31b06733f8c213e7908",
};
