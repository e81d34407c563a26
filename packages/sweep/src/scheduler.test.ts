import { openStore, type Store } from "@unlearn/db";
import { type Job, JobResult } from "@unlearn/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "./config.ts";
import type { Dispatcher, DispatchOutput, DispatchRequest } from "./dispatcher.ts";
import { commitOutput } from "./job-result.ts";
import { type RunEvent, runSweep } from "./run.ts";
import { criticalPath, remainingPaths, simulateMakespan } from "./scheduler-dag.ts";

// Worker threads start slowly on a loaded 2-core machine.
vi.setConfig({ testTimeout: 60_000 });

const FAKE = new URL("../test/fake-worker.ts", import.meta.url);
const facts = { n: 300, d: 8, classes: 2, L: 3.5 };
const fig5 = (dataset: string, extra: object = {}) =>
  parseConfig({
    name: "scheduler test",
    figure: "fig5",
    dataset,
    engine: "reference",
    lambda: 0.01,
    chains: 4,
    burnIn: 50,
    removals: [1, 10, 50],
    epsilons: [0.5, 2],
    sigma: 0.03,
    ...extra,
  });

/** An in-process Dispatcher: records what starts, finishes a job after `delayMs`, capacity settable. */
class RecordingDispatcher implements Dispatcher {
  onCapacityChange?: () => void;
  readonly started: Job[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    public capacity: number,
    private readonly delayMs = 5,
  ) {}
  /** job fusion's width (0: none) */
  width = 0;
  batchColumns(): number {
    return this.width;
  }
  run(batch: readonly DispatchRequest[]): Promise<DispatchOutput>[] {
    return batch.map((request) => this.runOne(request));
  }
  async runOne({ job, parentChains }: DispatchRequest): Promise<DispatchOutput> {
    this.started.push(job);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const parent = await parentChains?.();
    await new Promise((r) => setTimeout(r, this.delayMs));
    this.inFlight--;
    const W = parent ? parent.map((v) => v + 1) : new Float32Array(4);
    const result = JobResult.fromPartial({ jobId: job.id, ok: true, accuracies: [0.5], stepsRun: 1 });
    return { result, artifact: { W, shape: [2, 2] } };
  }
  commit(output: DispatchOutput, db: Store): Promise<void> {
    return commitOutput(db, output);
  }
  async close(): Promise<void> {}
}

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

describe("scheduling order", () => {
  it("starts the ready job with the longest remaining path first, not the plan's order", async () => {
    store = await openStore("memory://");
    const dispatcher = new RecordingDispatcher(1);
    const out = await runSweep(fig5("synthetic?order"), { db: store, facts, dispatcher });
    expect(out).toMatchObject({ state: "done", ran: 10 });
    const [learn, ...rest] = out.plan.jobs;
    // The learn on D heads the longest path (burn-in + the largest K); after it, every other job is a
    // leaf, so they run by their own steps, longest first, ties in plan order.
    const expected = [learn!, ...[...rest].sort((a, b) => b.spec!.steps - a.spec!.steps)];
    expect(dispatcher.started.map((j) => j.id)).toEqual(expected.map((j) => j.id));
    // FIFO in plan order would be different here: the test would not pass by accident.
    expect(expected.map((j) => j.id)).not.toEqual(out.plan.jobs.map((j) => j.id));
  });

  it("keeps at most capacity jobs in flight, and starts more when the capacity grows", async () => {
    store = await openStore("memory://");
    const dispatcher = new RecordingDispatcher(1, 30);
    const events: RunEvent[] = [];
    let grown = false;
    const out = await runSweep(fig5("synthetic?capacity"), {
      db: store,
      facts,
      dispatcher,
      onEvent: (e) => {
        events.push(e);
        // A worker joins once the learn on D is done: 9 jobs are ready.
        if (e.type === "result" && !grown) {
          grown = true;
          dispatcher.capacity = 3;
          dispatcher.onCapacityChange?.();
        }
      },
    });
    expect(out).toMatchObject({ state: "done", ran: 10 });
    expect(dispatcher.maxInFlight).toBe(3);
    const planned = events.find((e) => e.type === "planned");
    expect(planned).toMatchObject({ workers: 1 });
  });
});

describe("simulateMakespan and criticalPath", () => {
  // A(10) → B(5), A → C(5); D(8) and E(3) independent. Critical path A → B: 15 steps; 31 in all.
  const job = (id: string, steps: number, parentId = ""): Job => ({
    id,
    spec: { steps, parentId } as Job["spec"],
    sweepId: "s",
    attempt: 0,
    engine: "reference",
    device: "cpu",
  });
  const jobs = [job("A", 10), job("B", 5, "A"), job("C", 5, "A"), job("D", 8), job("E", 3)];

  it("gives the remaining path of every job and the critical path", () => {
    const paths = remainingPaths(jobs, new Set(jobs.map((j) => j.id)));
    expect(Object.fromEntries(paths)).toEqual({ A: 15, B: 5, C: 5, D: 8, E: 3 });
    expect(criticalPath(jobs)).toBe(15);
    // Only pending jobs count: with A done, B heads a 5-step path.
    expect(criticalPath(jobs, new Set(["B", "C", "E"]))).toBe(5);
  });

  it("simulates longest-remaining-path-first on N workers", () => {
    expect(simulateMakespan(jobs, 1)).toEqual({ workers: 1, makespan: 31, criticalPath: 15, totalSteps: 31 });
    // t=0: A, D; t=8: E; t=10: B; t=11: C → ends at 16.
    expect(simulateMakespan(jobs, 2).makespan).toBe(16);
    expect(simulateMakespan(jobs, 3).makespan).toBe(15);
    expect(simulateMakespan(jobs, 64).makespan).toBe(15);
    expect(() => simulateMakespan(jobs, 0)).toThrow(/workers must be an integer ≥ 1/);
  });
});

describe("parent chains", () => {
  it("reads a stored parent's chains once for all its children, and not at all when it ran in this run", async () => {
    store = await openStore("memory://");
    const config = fig5("synthetic?chains");
    // First run: only the learn on D (it starts first), then stop.
    const controller = new AbortController();
    const first = await runSweep(config, {
      db: store,
      facts,
      dispatcher: new RecordingDispatcher(1),
      signal: controller.signal,
      onEvent: (e) => e.type === "result" && controller.abort(),
    });
    expect(first).toMatchObject({ ran: 1, cancelled: true });
    const real = store;
    let reads = 0;
    const counting: Store = {
      ...real,
      getArtifact: (key) => {
        reads++;
        return real.getArtifact(key);
      },
    };
    const dispatcher = new RecordingDispatcher(2);
    const rerun = await runSweep(config, { db: counting, facts, dispatcher });
    // 6 unlearning children (3 S × 2 ε) of the stored learn on D: one read serves them all.
    expect(rerun).toMatchObject({ state: "done", reused: 1, ran: 9 });
    expect(reads).toBe(1);

    const fresh = fig5("synthetic?chains-fresh");
    reads = 0;
    const all = await runSweep(fresh, { db: counting, facts, dispatcher: new RecordingDispatcher(3) });
    expect(all).toMatchObject({ state: "done", ran: 10 });
    expect(reads).toBe(0);
  });
});

describe("a store error", () => {
  it("abandons a result whose commit was still waiting its turn: not counted as run, left pending", async () => {
    store = await openStore("memory://");
    const real = store;
    let saves = 0;
    const flaky: Store = {
      ...real,
      // The first result's write is slow and fails; the second job's result is ready meanwhile and waits.
      saveResult: async (result) => {
        if (++saves > 1) return real.saveResult(result);
        await new Promise((r) => setTimeout(r, 300));
        throw new Error("disk full (injected)");
      },
    };
    const dispatcher = new RecordingDispatcher(2, 5);
    const out = await runSweep(fig5("synthetic?waiting-commit"), { db: flaky, facts, dispatcher });
    expect(dispatcher.started).toHaveLength(2);
    expect(saves).toBe(1);
    expect(out).toMatchObject({ state: "interrupted", ran: 0, failed: 0 });
    const states = await Promise.all(out.plan.jobs.map(async (j) => (await real.getJob(j.id))!.state));
    expect(states.every((s) => s === "pending")).toBe(true);
  });

  it("stops the run cleanly: untouched jobs stay pending, the sweep reads interrupted, no write after return, a rerun completes", async () => {
    store = await openStore("memory://");
    const config = fig5("synthetic?slow");
    const real = store;
    let saves = 0;
    let returned = false;
    const lateWrites: string[] = [];
    const write =
      <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> => {
        if (returned) lateWrites.push(name);
        return fn(...args);
      };
    const flaky: Store = {
      ...real,
      setJobState: write("setJobState", real.setJobState),
      // The second result cannot be stored (chains are written only for parents, so the result it is).
      saveResult: write("saveResult", async (result) => {
        if (++saves === 2) throw new Error("disk full (injected)");
        return real.saveResult(result);
      }),
      appendEvent: write("appendEvent", real.appendEvent),
      setSweepState: write("setSweepState", real.setSweepState),
      putArtifact: write("putArtifact", real.putArtifact),
    };
    const out = await runSweep(config, { db: flaky, workers: 2, facts, workerEntry: FAKE });
    returned = true;
    expect(out).toMatchObject({ state: "interrupted", cancelled: false, ran: 1, failed: 0 });
    expect(out.error).toMatch(/store error: disk full \(injected\)/);
    const summary = (await real.getSweep(out.sweepId))!;
    expect(summary).toMatchObject({ state: "interrupted", done: 1, failed: 0 });
    expect(summary.error).toMatch(/disk full/);
    const events = await real.listEvents(out.sweepId);
    expect(events.find((e) => e.type === "store-error")?.payload).toMatchObject({
      error: expect.stringMatching(/disk full/),
    });
    // No job was marked failed; every job without a result is pending again.
    const states = await Promise.all(out.plan.jobs.map(async (j) => (await real.getJob(j.id))!.state));
    expect(states.filter((s) => s === "done")).toHaveLength(1);
    expect(states.filter((s) => s === "pending")).toHaveLength(out.jobs - 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(lateWrites).toEqual([]);

    const rerun = await runSweep(config, { db: real, workers: 2, facts, workerEntry: FAKE });
    expect(rerun).toMatchObject({ state: "done", reused: 1, ran: out.jobs - 1, failed: 0 });
    expect((await real.getSweep(out.sweepId))!.state).toBe("done");
  });
});
