import { openStore, type Store } from "@unlearn/db";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig, type SweepConfig } from "./config.ts";
import { type RunEvent, runSweep } from "./run.ts";

const FAKE = new URL("../test/fake-worker.ts", import.meta.url);
const facts = { n: 300, d: 8, classes: 2, L: 3.5 };
const fig5 = (dataset: string, extra: object = {}) =>
  parseConfig({
    name: "run test",
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

/** Runs the sweep on the fake worker and aborts it once `n` results have arrived (an interrupted run). */
async function runUntilResults(config: SweepConfig, db: Store, n: number) {
  const controller = new AbortController();
  let results = 0;
  return runSweep(config, {
    db,
    workers: 1,
    facts,
    workerEntry: FAKE,
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type === "result" && ++results === n) controller.abort();
    },
  });
}

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

describe("runSweep", () => {
  it("runs a small synthetic sweep on worker threads, stores it, and reuses every result when rerun", async () => {
    store = await openStore("memory://");
    const config = fig5("synthetic?n=300&d=8&test=200&classes=2&seed=1");
    const events: RunEvent[] = [];
    const first = await runSweep(config, { db: store, workers: 2, onEvent: (e) => events.push(e) });
    // 1 learn on D, 3 × 2 unlearning, 3 retraining
    expect(first).toMatchObject({ state: "done", jobs: 10, ran: 10, reused: 0, failed: 0, cancelled: false });
    const rows = await store.sweepResults(first.sweepId);
    expect(rows.length).toBe(first.plan.links.length);
    for (const r of rows) {
      expect(r.accuracies).toHaveLength(4);
      expect(r.accuracyMean).toBeGreaterThanOrEqual(0);
      expect(r.accuracyMean).toBeLessThanOrEqual(1);
    }
    expect(rows.filter((r) => r.kind === "unlearn").every((r) => r.K !== null && r.K >= 1)).toBe(true);
    const planned = events.find((e) => e.type === "planned");
    expect(planned).toMatchObject({ jobs: 10, reused: 0, toRun: 10, workers: 2 });
    const last = events.filter((e) => e.type === "progress").at(-1)!;
    expect(last.type === "progress" && last.progress).toMatchObject({ done: 10, total: 10, failed: 0 });
    expect(events.filter((e) => e.type === "result").length).toBe(10);

    const again = await runSweep(config, { db: store, workers: 2 });
    expect(again).toMatchObject({ sweepId: first.sweepId, state: "done", ran: 0, reused: 10 });
    expect(await store.sweepResults(first.sweepId)).toEqual(rows);
    const other = await runSweep(fig5("synthetic?n=300&d=8&test=200&classes=2&seed=1", { removals: [1] }), {
      db: store,
      workers: 1,
    });
    // Another sweep (another id) over a sub-grid: its learn on D and S = 1 jobs are already stored.
    expect(other.sweepId).not.toBe(first.sweepId);
    expect(other).toMatchObject({ jobs: 4, reused: 4, ran: 0 });
  }, 60_000);

  it("marks a failed job's descendants failed without running them, and the sweep failed", async () => {
    store = await openStore("memory://");
    const config = fig5("synthetic?fail-unlearn");
    const skipped: string[] = [];
    const out = await runSweep(config, {
      db: store,
      workers: 1,
      facts,
      workerEntry: FAKE,
      onEvent: (e) => e.type === "skipped" && skipped.push(e.job.id),
    });
    expect(out.state).toBe("failed");
    const unlearns = out.plan.jobs.filter((j) => j.spec!.parentId).length;
    expect(out).toMatchObject({ ran: out.jobs - unlearns, failed: unlearns });
    expect(skipped).toEqual([]);
    const job = await store.getJob(out.plan.jobs.find((j) => j.spec!.parentId)!.id);
    expect(job).toMatchObject({ state: "failed", error: "unlearning refused" });
    expect((await store.listSweeps()).find((s) => s.id === out.sweepId)!.state).toBe("failed");
  }, 30_000);

  it("fails the children of a job whose worker crashed twice, never hanging", async () => {
    store = await openStore("memory://");
    const skipped: string[] = [];
    const out = await runSweep(fig5("synthetic?crash-learn"), {
      db: store,
      workers: 1,
      facts,
      workerEntry: FAKE,
      onEvent: (e) => e.type === "skipped" && skipped.push(e.reason),
    });
    // the learn on D crashes twice; its 6 unlearning children are not run; the 3 retraining jobs are
    expect(out).toMatchObject({ state: "failed", ran: 3, failed: 7 });
    expect(skipped).toHaveLength(6);
    expect(skipped[0]).toMatch(
      /not run: parent [0-9a-f]{12} failed: worker crashed \(exit code 1\): boom on attempt 1/,
    );
    const learn = out.plan.jobs.find((j) => !j.spec!.parentId && j.spec!.removals === 0)!;
    expect(await store.getJob(learn.id)).toMatchObject({ state: "failed" });
  }, 30_000);

  it("stops on abort keeping finished results; the rerun completes them without rerunning", async () => {
    store = await openStore("memory://");
    const config = fig5("synthetic?slow");
    const out = await runUntilResults(config, store, 3);
    expect(out).toMatchObject({
      cancelled: true,
      state: "interrupted",
      ran: 3,
      failed: 0,
      notRun: out.jobs - 3,
    });
    const summary = (await store.listSweeps()).find((s) => s.id === out.sweepId)!;
    expect(summary).toMatchObject({ state: "interrupted", done: 3 });
    // Abandoned jobs go back to pending: no job of a stopped sweep reads as running.
    for (const j of out.plan.jobs) expect((await store.getJob(j.id))!.state).not.toBe("running");
    const before = await store.sweepResults(out.sweepId);
    expect(new Set(before.map((r) => r.job)).size).toBe(3);
    const rerun = await runSweep(config, { db: store, workers: 1, facts, workerEntry: FAKE });
    expect(rerun).toMatchObject({ state: "done", reused: 3, ran: out.jobs - 3, cancelled: false });
    const after = await store.sweepResults(out.sweepId);
    for (const r of before) expect(after.find((a) => a.job === r.job && a.series === r.series)).toEqual(r);
  }, 30_000);

  it("reruns a finished parent whose stored chains are missing, so its children can start", async () => {
    store = await openStore("memory://");
    const config = fig5("synthetic?slow");
    const first = await runUntilResults(config, store, 2);
    const learn = first.plan.jobs.find((j) => j.spec!.removals === 0)!;
    const stored = await store.doneJobIds(first.plan.jobs.map((j) => j.id));
    expect(stored.has(learn.id)).toBe(true);
    // The same store, except that the learn on D's chains are gone.
    const real = store;
    const lossy = {
      ...real,
      getArtifact: async (key: string) => (key === learn.id ? null : real.getArtifact(key)),
      hasArtifacts: async (keys: string[]) => {
        const found = await real.hasArtifacts(keys);
        found.delete(learn.id);
        return found;
      },
    };
    const ran: string[] = [];
    const rerun = await runSweep(config, {
      db: lossy,
      workers: 1,
      facts,
      workerEntry: FAKE,
      onEvent: (e) => e.type === "result" && ran.push(e.job.id),
    });
    expect(rerun).toMatchObject({
      state: "done",
      failed: 0,
      reused: stored.size - 1,
      ran: first.jobs - stored.size + 1,
    });
    expect(ran[0]).toBe(learn.id);
  }, 30_000);
});
