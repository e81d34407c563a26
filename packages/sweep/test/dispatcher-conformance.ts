/**
 * The Dispatcher contract (src/dispatcher.ts) as tests, run against every implementation: the thread
 * dispatcher here (thread-dispatcher.test.ts) and the NATS dispatcher in apps/coordinator's tests.
 * Each gets the same small synthetic sweep registered in a real store, and must give executeJob's
 * numbers, route progress, commit outcomes into the store, fail what it cannot run without rejecting,
 * stop cleanly on close(), and run a batch of jobs (job fusion) fused, one result per job, each
 * bit-identical to the job alone on the reference engine and recording its batch's width.
 */
import * as accountant from "@unlearn/accountant";
import type { Store } from "@unlearn/db";
import { type Job, JobKind } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.ts";
import type { Dispatcher, DispatchOutput, DispatchRequest } from "../src/dispatcher.ts";
import { executeJob } from "../src/execute.ts";
import { planSweep, type SweepPlan } from "../src/planner.ts";
import { datasetFacts, registerSweep } from "../src/run.ts";

export interface ConformanceHarness {
  /** the store outcomes are committed into */
  store: Store;
  /** a fresh dispatcher for one sweep; d is the dataset's dimension */
  dispatcher(sweepId: string, d: number): Dispatcher;
}

function config(seed: number, burnIn: number, engine = "onnx") {
  return parseConfig({
    name: "dispatcher conformance",
    figure: "fig5",
    dataset: "synthetic?n=2000&d=32&test=500&classes=2&seed=1",
    lambda: 1e-6,
    smoothness: "data",
    chains: 2,
    burnIn,
    seed,
    engine,
    removals: [1, 5],
    epsilons: [1],
    sigma: 0.03,
    granularity: 10,
  });
}

/** A planned sweep, registered in the store as runSweep would (so results can be stored). */
async function registered(store: Store, seed: number, burnIn = 300, engine = "onnx") {
  const c = config(seed, burnIn, engine);
  const facts = await datasetFacts(c);
  const plan: SweepPlan = planSweep(c, facts, accountant);
  await registerSweep(store, c, plan);
  const learn = plan.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!;
  const child = plan.jobs.find((j) => j.spec!.parentId === learn.id)!;
  return { plan, d: facts.d, learn, child };
}

/** A batch of one: run() returns one promise per job. */
function one(dispatcher: Dispatcher, request: DispatchRequest): Promise<DispatchOutput> {
  const outs = dispatcher.run([request]);
  expect(outs).toHaveLength(1);
  return outs[0]!;
}

const local = (job: Job, parent?: Float32Array) =>
  executeJob(job, { loadArtifact: async () => parent ?? null, threads: 1 });

export function dispatcherConformance(name: string, harness: () => ConformanceHarness): void {
  describe(`the Dispatcher contract: ${name}`, () => {
    it("runs a job and its child with executeJob's numbers, routes progress, and commits both", async () => {
      const { store, dispatcher: make } = harness();
      const { plan, d, learn, child } = await registered(store, 101);
      const dispatcher = make(plan.sweepId, d);
      expect(Number.isInteger(dispatcher.capacity) && dispatcher.capacity >= 1).toBe(true);
      const progress: number[] = [];
      const first = await one(dispatcher, {
        job: learn,
        onProgress: (p) => {
          expect(p.jobId).toBe(learn.id);
          expect(p.stepsDone).toBeLessThanOrEqual(p.stepsTotal);
          progress.push(p.stepsDone);
        },
      });
      expect(first.result.error).toBe("");
      expect(first.artifact!.shape).toEqual([d, 2]);
      const want = await local(learn);
      expect(first.result.accuracies).toEqual(want.result.accuracies);
      expect(Array.from(first.artifact!.W)).toEqual(Array.from(want.artifact!.W));
      expect(progress.length).toBeGreaterThan(0);

      await dispatcher.commit(first, store);
      expect(await store.doneJobIds([learn.id])).toEqual(new Set([learn.id]));
      const stored = await store.getArtifact(learn.id);
      expect(new Float32Array(stored!.slice().buffer)).toEqual(want.artifact!.W);

      const second = await one(dispatcher, { job: child, parentChains: async () => first.artifact!.W });
      const wantChild = await local(child, want.artifact!.W);
      expect(second.result.ok).toBe(true);
      expect(second.result.accuracies).toEqual(wantChild.result.accuracies);
      await dispatcher.commit(second, store);
      expect((await store.getJob(child.id))?.state).toBe("done");
      await dispatcher.close();
    });

    it("runs a batch fused: one result per job, in order, each the job alone's, with fusedColumns", async () => {
      const { store, dispatcher: make } = harness();
      const { plan, d, learn } = await registered(store, 104, 200, "reference");
      const dispatcher = make(plan.sweepId, d);
      expect(dispatcher.batchColumns("reference", "cpu")).toBeGreaterThanOrEqual(6);
      // The learn on D and the retrainings on D′ (different D′ and steps), then learn's unlearnings.
      const roots = plan.jobs.filter((j) => !j.spec!.parentId);
      const children = plan.jobs.filter((j) => j.spec!.parentId === learn.id).slice(0, 3);
      expect(roots.length).toBeGreaterThanOrEqual(3);
      expect(new Set(children.map((j) => j.spec!.steps)).size).toBeGreaterThan(1);
      const progressOf = new Map<string, number>();
      const outs = await Promise.all(
        dispatcher.run(
          roots.map((job) => ({
            job,
            onProgress: (p) => {
              expect(p.jobId).toBe(job.id);
              progressOf.set(job.id, p.stepsDone);
            },
          })),
        ),
      );
      expect(outs.map((o) => o.result.jobId)).toEqual(roots.map((j) => j.id));
      for (const [i, job] of roots.entries()) {
        const want = await local(job);
        expect(outs[i]!.result.error).toBe("");
        expect(outs[i]!.result.accuracies).toEqual(want.result.accuracies);
        expect(Array.from(outs[i]!.artifact!.W)).toEqual(Array.from(want.artifact!.W));
        expect(outs[i]!.result.fusedColumns).toBe(2 * roots.length);
        expect(progressOf.get(job.id)).toBeGreaterThan(0);
        await dispatcher.commit(outs[i]!, store);
      }
      const W = outs[roots.indexOf(learn)]!.artifact!.W;
      const unlearned = await Promise.all(
        dispatcher.run(children.map((job) => ({ job, parentChains: async () => W }))),
      );
      for (const [i, job] of children.entries()) {
        const want = await local(job, W);
        expect(unlearned[i]!.result.accuracies).toEqual(want.result.accuracies);
        expect(Array.from(unlearned[i]!.artifact!.W)).toEqual(Array.from(want.artifact!.W));
        expect(unlearned[i]!.result.fusedColumns).toBe(2 * children.length);
        await dispatcher.commit(unlearned[i]!, store);
      }
      expect((await store.doneJobIds([...roots, ...children].map((j) => j.id))).size).toBe(
        roots.length + children.length,
      );
      await dispatcher.close();
    });

    it("resolves a job it cannot run as a failed result (never rejecting); commit marks it failed", async () => {
      const { store, dispatcher: make } = harness();
      const { plan, d, child } = await registered(store, 102);
      const dispatcher = make(plan.sweepId, d);
      // Its parent never ran: its chains are nowhere.
      const out = await one(dispatcher, { job: child, parentChains: async () => undefined });
      expect(out.result.ok).toBe(false);
      expect(out.result.jobId).toBe(child.id);
      expect(out.result.error).toMatch(/chains of parent .* (not stored|stored nowhere)/);
      await dispatcher.commit(out, store);
      expect(await store.getJob(child.id)).toMatchObject({ state: "failed" });
      expect((await store.doneJobIds([child.id])).size).toBe(0);
      await dispatcher.close();
    });

    it("close() resolves a running job as cancelled at once, is safe twice, and refuses later runs", async () => {
      const { store, dispatcher: make } = harness();
      const { plan, d, learn } = await registered(store, 103, 400_000);
      const dispatcher = make(plan.sweepId, d);
      let started!: () => void;
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      const out = one(dispatcher, { job: learn, onProgress: () => started() });
      await running;
      const t0 = performance.now();
      await dispatcher.close();
      expect((await out).result).toMatchObject({ ok: false, error: "cancelled", jobId: learn.id });
      expect(performance.now() - t0).toBeLessThan(25_000);
      await dispatcher.close();
      const late = await one(dispatcher, { job: learn });
      expect(late.result.ok).toBe(false);
    });
  });
}
