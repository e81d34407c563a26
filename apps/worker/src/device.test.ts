/**
 * WORKER_DEVICE reaches the engine: the worker sets its device on each job it runs, and executeJob
 * creates the job's engine on that device. Shown with engines that refuse a device this machine (or
 * that engine) lacks: the refusal names the device, so the device got there.
 */
import { Job, JobKind, JobSpec, jobId, Smoothness } from "@unlearn/protocol";
import { executeJob } from "@unlearn/sweep";
import { describe, expect, it } from "vitest";

const spec = JobSpec.fromPartial({
  kind: JobKind.JOB_KIND_LEARN,
  dataset: "synthetic?n=200&d=4&test=50&classes=2&seed=1",
  steps: 5,
  chains: 1,
  lambda: 1e-3,
  sigma: 0.01,
  seed: 1,
  smoothness: Smoothness.SMOOTHNESS_DATA,
  noise: "philox-v1", // the noise definition workers compute (a spec without it is refused)
});
const job = (engine: string, device: string) =>
  Job.fromPartial({ id: jobId(spec), spec, sweepId: "s", engine, device });

describe("the job's device", () => {
  it("is given to the engine (the reference engine refuses cuda, naming it)", async () => {
    const out = await executeJob(job("reference", "cuda"), { loadArtifact: async () => null, threads: 1 });
    expect(out.result.ok).toBe(false);
    expect(out.result.error).toMatch(/device "cuda" is not available/);
  });

  it("cpu is every engine's default and runs", async () => {
    const out = await executeJob(job("reference", "cpu"), { loadArtifact: async () => null, threads: 1 });
    expect(out.result.error).toBe("");
    expect(out.result.ok).toBe(true);
  });
});
