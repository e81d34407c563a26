/**
 * What the scheduler keeps: chains in the database only for jobs the plan gives children (all with
 * keepChains), onChainsFreed once per job when this sweep needs its chains no more; and the ready
 * queue, a heap, hands jobs out in the order a full sort would.
 */
import { openStore, type Store } from "@unlearn/db";
import { type Job, JobKind, JobResult, JobSpec } from "@unlearn/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "./config.ts";
import type { Dispatcher, DispatchOutput, DispatchRequest } from "./dispatcher.ts";
import { commitOutput } from "./job-result.ts";
import { sweepIdOf } from "./planner.ts";
import { runSweep } from "./run.ts";
import { Heap, ReadyQueue } from "./scheduler-dag.ts";
import { jobName, jobNames, ProgressTracker } from "./scheduler-progress.ts";

// Opening a store and running a sweep take seconds on a loaded 2-core machine.
vi.setConfig({ testTimeout: 60_000 });

const facts = { n: 300, d: 8, classes: 2, L: 3.5 };
const fig5 = (name: string, extra: object = {}) =>
  parseConfig({
    name,
    figure: "fig5",
    dataset: `synthetic?retention=${name}`,
    engine: "reference",
    lambda: 0.01,
    chains: 4,
    burnIn: 50,
    removals: [1, 10],
    epsilons: [0.5, 2],
    sigma: 0.03,
    ...extra,
  });

/** Runs every job at once in memory: 2×2 float32 chains, accuracy 0.5. */
class MemoryDispatcher implements Dispatcher {
  readonly capacity = 4;
  /** job fusion's width (0: none) */
  width = 0;
  batchColumns(): number {
    return this.width;
  }
  run(batch: readonly DispatchRequest[]): Promise<DispatchOutput>[] {
    return batch.map((request) => this.runOne(request));
  }
  async runOne({ job, parentChains }: DispatchRequest): Promise<DispatchOutput> {
    const parent = await parentChains?.();
    const W = parent ? parent.map((v) => v + 1) : new Float32Array(4);
    const result = JobResult.fromPartial({ jobId: job.id, ok: true, accuracies: [0.5], stepsRun: 1 });
    return { result, artifact: { W, shape: [2, 2] } };
  }
  commit(output: DispatchOutput, store: Store): Promise<void> {
    return commitOutput(store, output);
  }
  async close(): Promise<void> {}
}

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

describe("chains retention", () => {
  it("stores only the chains a job of the plan starts from, and frees each job's chains once", async () => {
    store = await openStore("memory://");
    const freed: string[] = [];
    const out = await runSweep(fig5("leaves"), {
      db: store,
      facts,
      dispatcher: new MemoryDispatcher(),
      onChainsFreed: (id) => freed.push(id),
    });
    expect(out).toMatchObject({ state: "done", ran: 7 });
    const jobs = out.plan.jobs;
    const parents = jobs.filter((j) => jobs.some((c) => c.spec!.parentId === j.id)).map((j) => j.id);
    expect(parents).toHaveLength(1); // the learn on D
    expect(await store.hasArtifacts(jobs.map((j) => j.id))).toEqual(new Set(parents));
    expect([...freed].sort()).toEqual(jobs.map((j) => j.id).sort());
    const storage = await store.sweepStorage(out.sweepId);
    expect(storage).toMatchObject({ jobs: 7, chains: 1, chainBytes: expect.any(Number) });
  });

  it("keepChains keeps every job's chains, under the same sweep id", async () => {
    store = await openStore("memory://");
    const config = fig5("keep", { keepChains: true });
    expect(sweepIdOf(config)).toBe(sweepIdOf(fig5("keep")));
    const out = await runSweep(config, { db: store, facts, dispatcher: new MemoryDispatcher() });
    const ids = out.plan.jobs.map((j) => j.id);
    expect(await store.hasArtifacts(ids)).toEqual(new Set(ids));
  });

  it("--keep-chains is an override flag", () => {
    expect(() => parseConfig({ ...fig5("x"), keepChains: "yes" }, "c.json", {})).toThrow(/keepChains/);
    expect(parseConfig(fig5("x"), "c.json", { keepChains: true }).keepChains).toBe(true);
  });
});

describe("ReadyQueue (a heap)", () => {
  const job = (i: number): Job => ({
    id: `job${i}`,
    spec: JobSpec.fromPartial({ kind: JobKind.JOB_KIND_LEARN, steps: i }),
    sweepId: "s",
    attempt: 0,
    engine: "reference",
    device: "cpu",
  });

  it("pops by longest remaining path, ties in plan order, like a full sort; duplicates are ignored", () => {
    const jobs = Array.from({ length: 2000 }, (_, i) => job(i));
    // A fixed pseudo-random priority with many ties (0..49).
    const priority = new Map(jobs.map((j, i) => [j.id, (i * 7919) % 50]));
    const queue = new ReadyQueue(jobs, priority);
    for (const j of [...jobs].reverse()) queue.push(j);
    queue.push(jobs[5]!);
    expect(queue.size).toBe(2000);
    const expected = [...jobs]
      .sort(
        (a, b) => priority.get(b.id)! - priority.get(a.id)! || Number(a.id.slice(3)) - Number(b.id.slice(3)),
      )
      .map((j) => j.id);
    expect(queue.drain().map((j) => j.id)).toEqual(expected);
    expect(queue.pop()).toBeUndefined();
  });

  it("re-ranks queued jobs after reprioritise, and a popped job can be queued again", () => {
    const jobs = [job(1), job(2), job(3)];
    const queue = new ReadyQueue(
      jobs,
      new Map([
        ["job1", 1],
        ["job2", 2],
        ["job3", 3],
      ]),
    );
    for (const j of jobs) queue.push(j);
    queue.reprioritise(
      new Map([
        ["job1", 9],
        ["job2", 2],
        ["job3", 3],
      ]),
    );
    expect(queue.pop()!.id).toBe("job1");
    queue.push(jobs[0]!);
    expect(queue.drain().map((j) => j.id)).toEqual(["job1", "job3", "job2"]);
  });
});

describe("progress at scale", () => {
  it("jobNames (links grouped once) names every job as jobName does", async () => {
    const { planSweep } = await import("./planner.ts");
    const accountant = await import("@unlearn/accountant");
    const plan = planSweep(fig5("names"), facts, accountant);
    const names = jobNames(plan.jobs, plan.links);
    for (const job of plan.jobs) expect(names.get(job.id)).toBe(jobName(job, plan.links));
  });

  it("the ETA's critical path follows starts, progress, abandons and ends (a chain of 3 and a single job)", () => {
    const mk = (id: string, steps: number, parentId = ""): Job => ({
      id,
      spec: JobSpec.fromPartial({ kind: JobKind.JOB_KIND_LEARN, steps, parentId }),
      sweepId: "s",
      attempt: 0,
      engine: "reference",
      device: "cpu",
    });
    const jobs = [mk("a", 100), mk("b", 50, "a"), mk("c", 25, "b"), mk("x", 120)];
    let t = 0;
    const tracker = new ProgressTracker("s", jobs, new Set(jobs.map((j) => j.id)), new Map(), 0, () => t);
    tracker.started(jobs[0]!);
    tracker.started(jobs[3]!);
    // 10 steps a second each for 10 s: each job's rate 10/s, so the ETA is the critical path / 10.
    for (let s = 1; s <= 10; s++) {
      t = s * 1000;
      tracker.progress("a", s * 10);
      tracker.progress("x", s * 10);
      tracker.snapshot(); // the display asks about once a second: each ask is a rate sample
    }
    // Critical: a's chain 175 − 100 done = 75 steps; x has 20 left; remaining 75 + 20 = 95 at 20/s.
    expect(tracker.snapshot().etaSeconds).toBeCloseTo(7.5, 6);
    tracker.abandoned("a");
    expect(tracker.snapshot().etaSeconds).toBeCloseTo(17.5, 6); // a's whole chain again: 175 steps
    tracker.finished(jobs[3]!, true);
    tracker.started(jobs[0]!);
    tracker.finished(jobs[0]!, true);
    expect(tracker.snapshot()).toMatchObject({ done: 2, running: 0 });
    expect(tracker.snapshot().etaSeconds).toBeCloseTo(7.5, 6); // b then c: 75 steps
  });

  it("Heap pops in its order", () => {
    const heap = new Heap<number>((a, b) => a < b);
    for (const n of [5, 3, 9, 1, 7, 3]) heap.push(n);
    expect(heap.peek()).toBe(1);
    expect(Array.from({ length: 6 }, () => heap.pop())).toEqual([1, 3, 3, 5, 7, 9]);
    expect(heap.pop()).toBeUndefined();
  });
});
