import { Server, ServerCredentials } from "@grpc/grpc-js";
import { openStore, type Store } from "@unlearn/db";
import { fixtureRows } from "@unlearn/figures/fixtures";
import { CoordinatorService, JobSpec, WorkerInfo } from "@unlearn/protocol";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { seedFixtures } from "../e2e/seed.ts";
import { databaseProblem } from "../lib/services.ts";
import { createServices, type ServerServices } from "./services.ts";

let store: Store;
let services: ServerServices;

beforeAll(async () => {
  store = await openStore("memory://");
  await seedFixtures(store);
  // A running sweep with one finished job and one still pending (its figure lacks that job).
  await store.createSweep({ id: "a1b2c3d4e5f60000", name: "partial", figure: "fig5", config: {}, seed: "1" });
  const spec = (removals: number, steps: number) =>
    JobSpec.toJSON(JobSpec.fromPartial({ dataset: "toy", sigma: 0.03, removals, steps, chains: 2 }));
  await store.upsertJobs([
    { id: "job-done", kind: "retrain", spec: spec(1, 200), parentId: null },
    { id: "job-pending", kind: "retrain", spec: spec(10, 200), parentId: null },
  ]);
  await store.linkSweepJobs("a1b2c3d4e5f60000", [
    { jobId: "job-done", figure: "fig5", series: "retraining", labels: {} },
    { jobId: "job-pending", figure: "fig5", series: "retraining", labels: {} },
  ]);
  await store.appendEvent({ sweepId: "a1b2c3d4e5f60000", type: "planned", payload: {} });
  await store.saveResult({
    jobId: "job-done",
    ok: true,
    error: "",
    accuracies: [0.9, 0.92],
    artifactKey: "",
    stepsRun: 200,
    wallMs: 400,
    msPerStep: 2,
    engine: "onnx",
    worker: "local#1",
  });
  services = createServices({ db: "memory://", open: async () => store });
});

afterAll(async () => {
  await services.close();
});

describe("dashboard services over a real store", () => {
  test("sweeps: newest first, with datasets, counts and progress", async () => {
    const sweeps = await services.sweeps();
    expect(sweeps.map((s) => s.id)).toContain("fixture-fig3a");
    const partial = sweeps.find((s) => s.id === "a1b2c3d4e5f60000")!;
    expect(partial).toMatchObject({ state: "running", jobs: 2, done: 1, failed: 0, datasets: ["toy"] });
    const fig4 = sweeps.find((s) => s.id === "fixture-fig4")!;
    expect(fig4.state).toBe("done");
    expect(fig4.datasets).toEqual(["mnist-3v8"]);
    expect(fig4.done).toBe(fig4.jobs);
  });

  test("a sweep by id or unique prefix: its jobs once each, its figure, and what the figure lacks", async () => {
    const detail = (await services.sweep("a1b2c3"))!;
    expect(detail.sweep.id).toBe("a1b2c3d4e5f60000");
    expect(detail.jobs.map((j) => [j.id, j.state, j.worker, j.engine, j.msPerStep])).toEqual([
      ["job-done", "done", "local#1", "onnx", 2],
      ["job-pending", "pending", null, null, null],
    ]);
    expect(detail.figures).toHaveLength(1);
    expect(detail.figures[0].spec).not.toBeNull();
    expect(detail.figures[0].missing).toEqual([
      { job: "job-pending", series: "retraining", state: "pending" },
    ]);
    // Half the steps done since "planned": the ETA is about the time spent so far.
    expect(detail.sweep.etaSeconds).not.toBeNull();
    expect(await services.sweep("nope")).toBeNull();
    expect(await services.sweep("fixture-fig")).toBeNull(); // several sweeps start so
  });

  test("Figure 4's S = 1 job, linked at every ε, is one job line but every point of its series", async () => {
    const detail = (await services.sweep("fixture-fig4"))!;
    const ids = detail.jobs.map((j) => j.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(new Set(fixtureRows.fig4.map((r) => r.job)).size);
  });

  test("figures: every paper figure with results, with server-side SVG", async () => {
    const figures = await services.figures();
    const mnist = figures.filter((f) => f.dataset === "mnist-3v8").map((f) => f.figure);
    expect(mnist).toEqual(["fig3a", "fig3b", "fig3c", "fig4"]);
    for (const f of figures.filter((x) => x.dataset === "mnist-3v8")) {
      expect(f.error).toBeNull();
      expect(f.svg).toMatch(/^<svg/);
    }
  });

  test("results: every row of every sweep, and the CSV of the CLI", async () => {
    const rows = await services.results();
    expect(rows.filter((r) => r.sweep === "a1b2c3d4e5f60000")).toHaveLength(1);
    const csv = services.resultsCsv(rows.slice(0, 2));
    expect(csv.split("\n")[0]).toBe(
      "sweep,job,figure,series,kind,dataset,smoothness,sigma,epsilon,removals,K,alpha,epsilon0,batch,chains,accuracyMean,accuracyStd,accuracies,engine,wallMs,fusedColumns",
    );
  });
});

describe("the workers page in the cluster mode", () => {
  test("names each worker's current job's sweep from the database, with its steps/s", async () => {
    // A gRPC server answering ListWorkers as a coordinator would while job-pending runs on w1.
    const server = new Server();
    server.addService(CoordinatorService, {
      listWorkers: (_call: unknown, done: (e: null, r: unknown) => void) =>
        done(null, {
          workers: [
            WorkerInfo.fromPartial({
              id: "w1",
              engine: "onnx",
              concurrency: 1,
              running: 1,
              currentJobs: ["job-pending"],
              stepsPerSecond: 640,
            }),
          ],
        }),
    });
    const port = await new Promise<number>((ok, fail) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))),
    );
    try {
      // Shares the store of the suite (closed by its afterAll), so it is not closed here.
      const cluster = createServices({
        db: "memory://",
        open: async () => store,
        coordinator: `127.0.0.1:${port}`,
        coordinatorToken: "t",
      });
      const view = await cluster.workers();
      expect(view.error).toBeNull();
      expect(view.workers).toMatchObject([
        { id: "w1", currentJobs: [{ id: "job-pending", sweepId: "a1b2c3d4e5f60000" }], stepsPerSecond: 640 },
      ]);
    } finally {
      server.forceShutdown();
    }
  });
});

describe("a database that cannot be reached", () => {
  test("is a DatabaseError naming it (password masked) and why, and is retried on the next call", async () => {
    const broken = createServices({ db: "postgres://postgres:hunter2@127.0.0.1:1/nowhere" });
    const error = await broken.sweeps().catch((e: unknown) => e);
    const problem = databaseProblem(error);
    expect(problem?.database).toBe("postgres://postgres:***@127.0.0.1:1/nowhere");
    expect(problem?.reason).toMatch(/ECONNREFUSED|refused/);
    expect(problem?.reason).not.toContain("hunter2");
    // Not cached: a second call tries again (and fails again the same way).
    expect(databaseProblem(await broken.sweeps().catch((e: unknown) => e))?.database).toBe(problem?.database);
  });
});
