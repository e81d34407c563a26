import { type Job, type JobProgress, JobSpec, jobId } from "@unlearn/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { defaultWorkers, threadsPerWorker, WorkerPool } from "./pool.ts";

// Each test starts worker threads (tsx in every one): seconds on a loaded 2-core machine.
vi.setConfig({ testTimeout: 60_000 });

const FAKE = new URL("../test/fake-worker.ts", import.meta.url);

function job(dataset: string, steps: number): Job {
  const spec = JobSpec.fromPartial({ dataset, steps, chains: 1 });
  return { id: jobId(spec), spec, sweepId: "s", attempt: 0, engine: "reference", device: "cpu" };
}

let pool: WorkerPool | undefined;
afterEach(async () => pool?.close());

describe("WorkerPool", () => {
  it("sizes workers and threads from the cores", () => {
    expect(defaultWorkers(2)).toBe(1);
    expect(defaultWorkers(16)).toBe(8);
    expect(defaultWorkers(1)).toBe(1);
    expect(threadsPerWorker(1, 2)).toBe(2);
    expect(threadsPerWorker(3, 2)).toBe(1);
    expect(() => new WorkerPool({ workers: 0 })).toThrow(/workers must be an integer ≥ 1/);
  });

  it("passes encoded jobs, progress, results and artifacts through worker threads", async () => {
    const progress: JobProgress[] = [];
    pool = new WorkerPool({ workers: 2, entry: FAKE, onProgress: (p) => progress.push(p) });
    const jobs = [job("a", 10), job("b", 20), job("c", 30)];
    const parent = new Float32Array([1, 2, 3, 4]);
    const outs = await Promise.all(jobs.map((j) => pool!.run(j, parent)));
    expect(outs.map((o) => o.result.jobId)).toEqual(jobs.map((j) => j.id));
    expect(outs.map((o) => o.result.accuracies[0])).toEqual([0.01, 0.02, 0.03].map((v) => Math.fround(v)));
    expect(Array.from(outs[0]!.artifact!.W)).toEqual([2, 3, 4, 5]);
    expect(outs[0]!.artifact!.shape).toEqual([2, 2]);
    // The caller's parent is copied per job, never transferred away.
    expect(Array.from(parent)).toEqual([1, 2, 3, 4]);
    expect(progress.map((p) => p.jobId).sort()).toEqual(jobs.map((j) => j.id).sort());
  });

  it("retries a job once after its worker crashes, then fails it with the error; the pool keeps working", async () => {
    pool = new WorkerPool({ workers: 1, entry: FAKE });
    const once = await pool.run(job("crash-once", 5));
    expect(once.result).toMatchObject({ ok: true, worker: "fake-1" });
    const always = await pool.run(job("crash-always", 5));
    expect(always.result.ok).toBe(false);
    expect(always.result.error).toMatch(
      /worker crashed \(exit code 1\): boom on attempt 1; it crashed 2 times/,
    );
    const after = await pool.run(job("fine", 7));
    expect(after.result.ok).toBe(true);
  });

  it("close() cancels queued and running jobs instead of hanging", async () => {
    pool = new WorkerPool({ workers: 1, entry: FAKE });
    const running = pool.run(job("crash-always", 1));
    const queued = pool.run(job("x", 1));
    await pool.close();
    expect((await running).result.error).toBe("cancelled");
    expect((await queued).result.error).toBe("cancelled");
    expect((await pool.run(job("y", 1))).result.error).toMatch(/closed/);
  });
});
