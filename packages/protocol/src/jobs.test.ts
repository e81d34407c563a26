import { describe, expect, it } from "vitest";
import {
  Job,
  JobKind,
  JobResult,
  JobSpec,
  jobId,
  kindFromName,
  kindName,
  RESULT_KINDS,
  Smoothness,
} from "./index.ts";

const base: JobSpec = JobSpec.fromPartial({
  kind: JobKind.JOB_KIND_UNLEARN,
  dataset: "mnist-3v8",
  lambda: 1e-6,
  smoothness: Smoothness.SMOOTHNESS_DATA,
  sigma: 0.03,
  steps: 1485,
  chains: 100,
  seed: 18446744073709551615n, // the largest uint64: the seed keeps all 64 bits
  removals: 100,
  parentId: "a".repeat(64),
});

describe("jobId", () => {
  it("is a hex SHA-256, equal for equal specs built in any order or way", () => {
    const id = jobId(base);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const reordered = JobSpec.fromPartial({
      parentId: "a".repeat(64),
      removals: 100,
      seed: "18446744073709551615",
      chains: 100,
      steps: 1485,
      sigma: 0.03,
      smoothness: Smoothness.SMOOTHNESS_DATA,
      lambda: 1e-6,
      dataset: "mnist-3v8",
      kind: JobKind.JOB_KIND_UNLEARN,
    });
    expect(jobId(reordered)).toBe(id);
    expect(jobId(JobSpec.decode(JobSpec.encode(base).finish()))).toBe(id);
    expect(jobId(JobSpec.fromJSON(JobSpec.toJSON(base)))).toBe(id);
  });

  it("changes when any field changes", () => {
    const changes: Partial<JobSpec>[] = [
      { kind: JobKind.JOB_KIND_RETRAIN },
      { dataset: "cifar10-3v8" },
      { featuresPath: "/data/features.bin" },
      { lambda: 2e-6 },
      { smoothness: Smoothness.SMOOTHNESS_BOUND },
      { sigma: 0.030000000000000002 },
      { steps: 1486 },
      { chains: 99 },
      { seed: 18446744073709551614n },
      { removals: 99 },
      { parentId: "b".repeat(64) },
      { publishSigma: 0.5 },
      { featuresKey: "c".repeat(64) },
      { noise: "philox-v1" },
    ];
    // The test must cover every field of JobSpec, so a field added to the proto is checked too.
    expect(changes.map((c) => Object.keys(c)[0]).sort()).toEqual(Object.keys(JobSpec.create()).sort());
    const ids = new Set([jobId(base)]);
    for (const change of changes) ids.add(jobId({ ...base, ...change }));
    expect(ids.size).toBe(changes.length + 1);
  });

  it("does not depend on the engine, device, attempt or sweep of the Job that carries the spec", () => {
    const a = Job.fromPartial({
      id: jobId(base),
      spec: base,
      engine: "onnx",
      device: "cpu",
      attempt: 1,
      sweepId: "s1",
    });
    const b = Job.fromPartial({
      id: jobId(base),
      spec: base,
      engine: "tfjs",
      device: "cuda",
      attempt: 3,
      sweepId: "s2",
    });
    const decodedA = Job.decode(Job.encode(a).finish());
    const decodedB = Job.decode(Job.encode(b).finish());
    expect(jobId(decodedA.spec!)).toBe(jobId(decodedB.spec!));
    expect(jobId(decodedA.spec!)).toBe(a.id);
    expect(Object.keys(JobSpec.create())).not.toContain("engine");
  });

  it("treats -0 like 0 (proto3 omits both), so a sign-less zero σ cannot split a cache entry", () => {
    expect(jobId({ ...base, sigma: -0 })).toBe(jobId({ ...base, sigma: 0 }));
  });
});

describe("messages", () => {
  it("round-trip a JobResult through its encoding (accuracies are float32 on the wire)", () => {
    const r = JobResult.fromPartial({
      jobId: "x",
      ok: true,
      accuracies: [0.5, 0.25, 0.875],
      stepsRun: 10,
      wallMs: 1.5,
    });
    expect(JobResult.decode(JobResult.encode(r).finish())).toEqual(r);
  });
});

describe("kind names", () => {
  it("map every ResultRow kind to a JobKind and back", () => {
    for (const name of RESULT_KINDS) expect(kindName(kindFromName(name))).toBe(name);
    expect(() => kindName(JobKind.JOB_KIND_UNSPECIFIED)).toThrow(/job kind 0/);
    expect(() => kindFromName("relearn")).toThrow(/unknown job kind "relearn"/);
  });
});
