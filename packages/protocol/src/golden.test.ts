/**
 * Golden values: stored results are found again by `jobId(spec)`, so a change to the proto encoding,
 * a field's number or type, or the hash silently re-keys every stored job (all of them recompute, and
 * old results are orphaned). These pins fail first; change them only deliberately, with a schema version.
 * They changed deliberately with the noise definition philox-v1 (JobSpec.noise, field 14).
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
  noise: "philox-v1",
});

describe("golden job ids", () => {
  it("pins jobId of a fixed spec", () => {
    expect(jobId(fig5Unlearn)).toBe(GOLDEN.unlearn);
    expect(Buffer.from(JobSpec.encode(fig5Unlearn).finish()).toString("hex")).toBe(GOLDEN.encoding);
  });

  it("the noise definition is part of the id: results of another one are never found for this spec", () => {
    // The same spec before philox-v1 (no noise field): the id the xoshiro-era result is stored under.
    expect(jobId({ ...fig5Unlearn, noise: "" })).toBe(GOLDEN.beforePhilox);
    expect(jobId({ ...fig5Unlearn, noise: "philox-v2" })).not.toBe(GOLDEN.unlearn);
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
  unlearn: "11c46cfcddc1be8d6b7006202c8d87b85fc09d1a36e486bb685b58b52ee7f72e",
  beforePhilox: "0d1976f4352c2bc2ad40fa9f9d19f007b19a0087e5e7396211c26c34272bd7a8",
  encoding: `080212096d6e6973742d337638218dedb5a0f7c6b03e280131b81e85eb51b89e3f38cd0b406450645a40${"30".repeat(64)}7209${Buffer.from("philox-v1").toString("hex")}`,
  features: "56fa849dad80dab632c207c5f15388d93bd3238adc2175137ab6a78ef1ba2077",
};
