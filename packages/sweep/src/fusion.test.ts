/**
 * Job fusion end to end in the embedded mode: the scheduler packs, a ThreadDispatcher runs a batch on
 * one worker thread fused (executeJobs), results record fusedColumns; a batch that fails is retried
 * unfused; the width setting UNLEARN_BATCH_COLUMNS.
 */
import { openStore, type Store } from "@unlearn/db";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BATCH_COLUMNS_ENV, batchColumnsFromEnv, resolveBatchColumns } from "./batch-columns.ts";
import { parseConfig } from "./config.ts";
import { ThreadDispatcher } from "./pool.ts";
import { runSweep } from "./run.ts";

// Worker threads start slowly on a loaded 2-core machine.
vi.setConfig({ testTimeout: 180_000 });

const FAKE = new URL("../test/fake-worker.ts", import.meta.url);
const config = (dataset: string, extra: object = {}) =>
  parseConfig({
    name: "fusion test",
    figure: "fig5",
    dataset,
    engine: "reference",
    lambda: 1e-4,
    chains: 3,
    burnIn: 120,
    removals: [1, 5],
    epsilons: [1, 4],
    sigma: 0.03,
    ...extra,
  });
/** The fake worker's accuracies are steps / 1000: a plan of short jobs (as scheduler.test.ts's). */
const short = { lambda: 0.01, burnIn: 50, epsilons: [0.5, 2] };

const stores: Store[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  for (const s of stores.splice(0)) await s.close();
});
async function store(): Promise<Store> {
  const s = await openStore("memory://");
  stores.push(s);
  return s;
}

describe("UNLEARN_BATCH_COLUMNS", () => {
  it("reads an integer ≥ 0, falls back to the engine's width, and names itself when invalid", () => {
    expect(batchColumnsFromEnv({})).toBeUndefined();
    expect(batchColumnsFromEnv({ [BATCH_COLUMNS_ENV]: "" })).toBeUndefined();
    expect(batchColumnsFromEnv({ [BATCH_COLUMNS_ENV]: " 64 " })).toBe(64);
    expect(batchColumnsFromEnv({ [BATCH_COLUMNS_ENV]: "0" })).toBe(0);
    for (const bad of ["-1", "1.5", "many", "1e3"])
      expect(() => batchColumnsFromEnv({ [BATCH_COLUMNS_ENV]: bad })).toThrow(
        /UNLEARN_BATCH_COLUMNS must be an integer ≥ 0/,
      );
    expect(resolveBatchColumns("reference", "cpu", undefined, { [BATCH_COLUMNS_ENV]: "7" })).toBe(7);
    expect(resolveBatchColumns("reference", "cpu", 3, { [BATCH_COLUMNS_ENV]: "7" })).toBe(3);
    expect(resolveBatchColumns("reference", "cpu", undefined, {})).toBeGreaterThan(1);
    vi.stubEnv(BATCH_COLUMNS_ENV, "wide");
    expect(() => new ThreadDispatcher({ workers: 1 })).toThrow(/UNLEARN_BATCH_COLUMNS/);
  });
});

describe("a fused sweep on the reference engine", () => {
  it("gives bit-identical accuracies to the same sweep unfused, and its results record fusedColumns", async () => {
    const c = config("synthetic?n=600&d=12&test=200&classes=2&seed=3");
    const fusedDb = await store();
    const fused = await runSweep(c, { db: fusedDb, workers: 1, threads: 1 });
    expect(fused).toMatchObject({ state: "done", failed: 0 });
    vi.stubEnv(BATCH_COLUMNS_ENV, "1");
    const aloneDb = await store();
    const alone = await runSweep(c, { db: aloneDb, workers: 1, threads: 1 });
    expect(alone).toMatchObject({ state: "done", failed: 0, ran: fused.ran });

    const fusedRows = await fusedDb.sweepResults(fused.sweepId);
    const aloneRows = await aloneDb.sweepResults(alone.sweepId);
    expect(fusedRows.map((r) => r.job)).toEqual(aloneRows.map((r) => r.job));
    expect(fusedRows.map((r) => r.accuracies)).toEqual(aloneRows.map((r) => r.accuracies));
    // The learn on D runs with the retrainings; its unlearnings run together after it.
    expect(fusedRows.every((r) => r.fusedColumns !== null && r.fusedColumns > 3)).toBe(true);
    const widths = new Set(fusedRows.map((r) => r.fusedColumns));
    expect(widths.size).toBeGreaterThan(0);
    for (const r of fusedRows) expect(r.fusedColumns! % 3).toBe(0);
    expect(aloneRows.every((r) => r.fusedColumns === null)).toBe(true);
    const learn = fusedRows.find((r) => r.kind === "learn")!;
    expect((await fusedDb.getResult(learn.job))!.fusedColumns).toBe(learn.fusedColumns);
  });
});

describe("a failed batch", () => {
  it("retries its jobs unfused once; only their alone results count", async () => {
    const db = await store();
    const facts = { n: 300, d: 8, classes: 2, L: 3.5 };
    const events: string[] = [];
    const out = await runSweep(config("synthetic?crash-fused", short), {
      db,
      facts,
      workers: 1,
      workerEntry: FAKE,
      onEvent: (e) => {
        if (e.type === "result") events.push(`${e.result.ok ? "ok" : "failed"} ${e.job.id}`);
      },
    });
    expect(out.error).toBeUndefined();
    expect(out).toMatchObject({ state: "done", failed: 0, ran: out.jobs });
    // Each job reports once: its alone result, not the failure of its batch.
    expect(events).toHaveLength(out.jobs);
    expect(events.every((e) => e.startsWith("ok "))).toBe(true);
    const rows = await db.sweepResults(out.sweepId);
    expect(rows).toHaveLength(out.jobs);
    expect(rows.every((r) => r.fusedColumns === null)).toBe(true);
    const retries = (await db.listEvents(out.sweepId)).filter((e) => e.type === "retry");
    // Every job ran fused first (the roots together, then learn's unlearnings together).
    expect(retries.length).toBe(out.jobs);
    expect(retries[0]!.payload).toMatchObject({
      alone: true,
      error: expect.stringMatching(/crashed 2 times/),
    });
  });

  it("fails a job that also fails alone; its batch mates' alone results count", async () => {
    const db = await store();
    const facts = { n: 300, d: 8, classes: 2, L: 3.5 };
    const out = await runSweep(config("synthetic?crash-learn", short), {
      db,
      facts,
      workers: 1,
      workerEntry: FAKE,
    });
    // The learn on D crashes alone as well: it and its unlearnings fail; the retrainings, retried
    // alone after their batch with the learn crashed, succeed.
    expect(out.state).toBe("failed");
    const rows = await db.sweepResults(out.sweepId);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.kind === "retrain")).toBe(true);
    expect(out.failed + out.ran).toBe(out.jobs);
  });
});
