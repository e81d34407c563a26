/**
 * The cluster end to end, with real processes: a nats-server (JetStream), PostgreSQL, the coordinator
 * and two workers. Token checks, embedded-equal results through the CLI, a worker SIGKILLed mid-job, a
 * job that fails on every delivery, and a duplicate result.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, type ServiceError } from "@grpc/grpc-js";
import * as accountant from "@unlearn/accountant";
import { connectCoordinator, connectNats, resultSubject } from "@unlearn/cluster";
import { CoordinatorClient, JobKind, JobResult, type ResultRow, type SweepEvent } from "@unlearn/protocol";
import { datasetFacts, planSweep } from "@unlearn/sweep";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, TOKEN } from "./cluster.ts";
import { tinyConfig } from "./fixtures.ts";
import { spawnProc, waitFor } from "./harness.ts";

/** The sweep whose learn job the fault workers fail on every delivery. */
const FAILING = tinyConfig({ seed: 5, removals: [1], burnIn: 200 });
let failingLearn: string;
/** The sweep whose learn job kills every worker that takes it. */
const CRASHING = tinyConfig({ seed: 6, removals: [1], burnIn: 200 });
let crashingLearn: string;
let cluster: Cluster;

beforeAll(async () => {
  const plan = planSweep(FAILING, await datasetFacts(FAILING), accountant);
  failingLearn = plan.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!.id;
  const crashing = planSweep(CRASHING, await datasetFacts(CRASHING), accountant);
  crashingLearn = crashing.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!.id;
  cluster = await Cluster.start({
    workers: 2,
    faultWorkers: true,
    // These tests are about one job per worker (which worker runs what, what a fault does to one job):
    // workers advertising width 1 keep the coordinator from fusing. Fused batches, their faults and
    // their unfused retries are test/batch.test.ts's.
    workerEnv: { FAIL_JOB: failingLearn, CRASH_JOB: crashingLearn, WORKER_BATCH_COLUMNS: "1" },
  });
});

afterAll(async () => {
  await cluster?.stop();
});

async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnProc(["--import", "tsx", "apps/cli/src/main.ts", ...args], {}, "cli");
  let stdout = "";
  proc.child.stdout!.on("data", (d) => (stdout += d));
  const code = await proc.exited;
  return { code, stdout, stderr: proc.output() };
}

function storedResults(jobIds: string[]): { rows: number; distinct: number } {
  const list = jobIds.map((id) => `'${id}'`).join(",");
  const out = execFileSync(
    "psql",
    [
      cluster.db.url,
      "-At",
      "-c",
      `select count(*), count(distinct job_id) from results where job_id in (${list})`,
    ],
    { encoding: "utf8" },
  );
  const [rows, distinct] = out.trim().split("|").map(Number);
  return { rows: rows!, distinct: distinct! };
}

describe("the coordinator's token", () => {
  it("answers UNAUTHENTICATED to a wrong or missing token, and plans nothing", async () => {
    const wrong = connectCoordinator(`127.0.0.1:${cluster.grpcPort}`, "not-the-token");
    const config = JSON.stringify(tinyConfig({ seed: 99 }));
    await expect(wrong.call("submitSweep", { configJson: config })).rejects.toMatchObject({ code: 16 });
    await expect(wrong.call("listSweeps", {})).rejects.toMatchObject({ code: 16 });
    const watchError = await new Promise<ServiceError>((resolve) =>
      wrong.watch({ sweepId: "x" }).on("error", resolve),
    );
    expect(watchError.code).toBe(16);
    wrong.close();
    const bare = new CoordinatorClient(`127.0.0.1:${cluster.grpcPort}`, credentials.createInsecure());
    const missing = await new Promise<ServiceError | null>((resolve) =>
      bare.submitSweep({ configJson: config }, (e) => resolve(e)),
    );
    expect(missing?.code).toBe(16);
    bare.close();
    expect((await cluster.client.call("listSweeps", {})).sweeps).toEqual([]);
  });
});

describe("a sweep through the CLI", () => {
  it("gives the embedded run's per-chain accuracies, with the embedded --json object", async () => {
    const dir = mkdtempSync(join(tmpdir(), "unlearn-cli-"));
    const file = join(dir, "tiny.json");
    writeFileSync(file, JSON.stringify(tinyConfig({ seed: 3 })));
    const local = ["--config", file, "--json", "--figures-dir", dir];
    const embedded = await cli(["sweep", ...local, "--db", join(dir, "embedded"), "--workers", "1"]);
    expect(embedded.code, embedded.stderr).toBe(0);
    const want = JSON.parse(embedded.stdout.trim().split("\n").at(-1)!);

    const remote = ["--coordinator", `127.0.0.1:${cluster.grpcPort}`, "--token", TOKEN];
    const run = await cli(["sweep", ...remote, ...local]);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
    expect(Object.keys(summary)).toEqual(Object.keys(want));
    const same = ({ sweep, state, jobs, failed, cancelled, error, notRun }: typeof want) => ({
      sweep,
      state,
      jobs,
      failed,
      cancelled,
      error,
      notRun,
    });
    expect(same(summary)).toEqual(same(want));
    expect(summary.ran).toBe(want.jobs);
    expect(run.stderr).toMatch(/\d+\/\d+ jobs \(\d+ reused, \d+ failed, \d+ running\)/);

    const rowsOf = async (args: string[]) => {
      const out = await cli(["results", ...args, "--sweep", want.sweep, "--json"]);
      expect(out.code, out.stderr).toBe(0);
      // How a result was computed (its wall time, the width it was fused at: the embedded run fuses,
      // this file's workers do not) is provenance; every number of the result must be the same.
      return (JSON.parse(out.stdout) as ResultRow[]).map(({ wallMs: _w, fusedColumns: _f, ...r }) => r);
    };
    expect(await rowsOf(remote)).toEqual(await rowsOf(["--db", join(dir, "embedded")]));
  });
});

describe("detaching, reattaching and cancelling from the CLI", () => {
  it("Ctrl-C detaches (the sweep goes on), --watch reattaches to its end, --cancel stops another", async () => {
    const address = `127.0.0.1:${cluster.grpcPort}`;
    const dir = mkdtempSync(join(tmpdir(), "unlearn-cli-"));
    const file = join(dir, "detach.json");
    writeFileSync(file, JSON.stringify(tinyConfig({ seed: 31, burnIn: 1500 })));
    const run = spawnProc(
      [
        "--import",
        "tsx",
        "apps/cli/src/main.ts",
        "sweep",
        "--coordinator",
        address,
        "--token",
        TOKEN,
        "--config",
        file,
      ],
      {},
      "cli",
    );
    await waitFor("the sweep to be submitted", () => /submitted to/.test(run.output()), 60_000);
    run.kill("SIGINT");
    expect(await run.exited).toBe(130);
    const sweepId = run.output().match(/--watch ([0-9a-f]+)/)?.[1];
    expect(run.output()).toMatch(new RegExp(`--cancel ${sweepId}`));
    const watched = await cli([
      "sweep",
      "--coordinator",
      address,
      "--token",
      TOKEN,
      "--watch",
      sweepId!,
      "--json",
      "--figures-dir",
      dir,
    ]);
    expect(watched.code, watched.stderr).toBe(0);
    expect(JSON.parse(watched.stdout.trim().split("\n").at(-1)!)).toMatchObject({
      sweep: sweepId,
      state: "done",
      failed: 0,
    });

    const long = tinyConfig({ seed: 32, burnIn: 6000 });
    const { sweepId: longId } = await cluster.client.call("submitSweep", {
      configJson: JSON.stringify(long),
    });
    const cancelled = await cli(["sweep", "--coordinator", address, "--token", TOKEN, "--cancel", longId]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stderr).toMatch(/cancelled/);
    const done = await cluster.watch(longId);
    expect(done.cancelled).toBe(true);
    expect((await cluster.client.call("getSweep", { sweepId: longId })).state).not.toBe("running");
    // Submitted again at once, it runs to its end (a new submission, with message ids of its own).
    await cluster.client.call("submitSweep", { configJson: JSON.stringify(long) });
    expect(await cluster.watch(longId)).toMatchObject({ state: "done", failed: 0, cancelled: false });
  });
});

describe("a worker told to stop", () => {
  it("finishes its running job on SIGTERM, then leaves the live workers", async () => {
    const leaving = cluster.addWorker({ WORKER_STOP_GRACE_MS: "60000" });
    await waitFor("the new worker to announce itself", async () =>
      (await cluster.client.call("listWorkers", {})).workers.some((w) => w.pid === leaving.pid),
    );
    const config = tinyConfig({ seed: 41, burnIn: 3000 });
    const planned = planSweep(config, await datasetFacts(config), accountant).jobs.map((j) => j.id);
    const { sweepId } = await cluster.client.call("submitSweep", { configJson: JSON.stringify(config) });
    // ListWorkers names the job it runs and its step rate (both from its heartbeats), for /workers.
    const busy = await waitFor("the new worker to run a job and report its speed", async () =>
      (await cluster.client.call("listWorkers", {})).workers.find(
        (w) => w.pid === leaving.pid && w.running > 0 && w.stepsPerSecond > 0,
      ),
    );
    expect(busy.currentJobs).toHaveLength(busy.running);
    for (const id of busy.currentJobs) expect(planned).toContain(id);
    leaving.kill("SIGTERM");
    expect(await leaving.exited).toBe(0);
    expect(leaving.output()).toMatch(/job [0-9a-f]{64} done in/);
    expect((await cluster.client.call("listWorkers", {})).workers.some((w) => w.pid === leaving.pid)).toBe(
      false,
    );
    expect(await cluster.watch(sweepId)).toMatchObject({ state: "done", failed: 0 });
  });
});

describe("faults", () => {
  it("redelivers the job of a worker SIGKILLed mid-job: the sweep completes, one result per job", async () => {
    const config = tinyConfig({ seed: 11, burnIn: 3000 });
    const plan = planSweep(config, await datasetFacts(config), accountant);
    const { sweepId } = await cluster.client.call("submitSweep", { configJson: JSON.stringify(config) });
    const victim = cluster.workers[0]!;
    await waitFor("worker 1 to be running a job", async () => {
      const { workers } = await cluster.client.call("listWorkers", {});
      return workers.some((w) => w.pid === victim.pid && w.running > 0);
    });
    victim.kill("SIGKILL");
    const replacement = cluster.addWorker();
    const done = await cluster.watch(sweepId);
    expect(done).toMatchObject({ state: "done", failed: 0, jobs: plan.jobs.length });
    expect(storedResults(plan.jobs.map((j) => j.id))).toEqual({
      rows: plan.jobs.length,
      distinct: plan.jobs.length,
    });
    // The killed worker never reported the job it was running; the others did, after its redelivery.
    const finished = [...cluster.runsPerJob().keys()].filter((id) => plan.jobs.some((j) => j.id === id));
    expect(finished.length).toBe(plan.jobs.length);
    expect(replacement.child.exitCode).toBeNull();
  });

  it("stores a job that fails on every delivery as failed; its descendants are not run; the rest completes", async () => {
    const plan = planSweep(FAILING, await datasetFacts(FAILING), accountant);
    const children = plan.jobs.filter((j) => j.spec!.parentId === failingLearn);
    const { sweepId } = await cluster.client.call("submitSweep", { configJson: JSON.stringify(FAILING) });
    const events: SweepEvent[] = [];
    const done = await cluster.watch(sweepId, (e) => events.push(e));
    expect(done).toMatchObject({ state: "failed", failed: 1 + children.length, jobs: plan.jobs.length });
    const failure = events.find((e) => e.event?.$case === "result" && e.event.value.jobId === failingLearn);
    expect(failure?.event?.$case === "result" && failure.event.value.error).toMatch(
      /injected fault.*each of 3 deliveries/,
    );
    const skipped = events
      .filter((e) => e.event?.$case === "skipped")
      .map((e) => (e.event as { value: { jobId: string } }).value.jobId);
    expect(skipped.sort()).toEqual(children.map((c) => c.id).sort());
    const retries = cluster.workers.map(
      (w) =>
        w.output().match(new RegExp(`job ${failingLearn.slice(0, 12)} failed on delivery`, "g"))?.length ?? 0,
    );
    expect(retries.reduce((a, b) => a + b, 0)).toBe(2);
    const { sweep, rows } = await cluster.client.call("queryResults", { sweepId });
    expect(sweep).toMatchObject({ state: "failed", failed: 1 + children.length });
    expect(rows.every((r) => r.kind === "retrain")).toBe(true);
    expect(rows.length).toBe(plan.jobs.length - 1 - children.length);
  });

  it("gives up a job that kills its worker on every delivery, even while the coordinator is down; its descendants fail", async () => {
    const plan = planSweep(CRASHING, await datasetFacts(CRASHING), accountant);
    const children = plan.jobs.filter((j) => j.spec!.parentId === crashingLearn);
    const killedNow = () => cluster.workers.filter((w) => w.child.signalCode === "SIGKILL").length;
    const killedBefore = killedNow();
    const { sweepId } = await cluster.client.call("submitSweep", { configJson: JSON.stringify(CRASHING) });
    // Each delivery kills a worker: keep two alive, as an autoscaler would.
    const refill = setInterval(() => {
      const alive = cluster.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
      for (let i = alive.length; i < 2; i++) cluster.addWorker();
    }, 500);
    try {
      // The coordinator goes down after the first crash; JetStream gives the job up without it.
      await waitFor("the job to kill a worker", () => killedNow() > killedBefore, 60_000);
      cluster.coordinator.kill("SIGKILL");
      await cluster.coordinator.exited;
      await waitFor("the job to kill three workers", () => killedNow() - killedBefore >= 3, 90_000);
      await new Promise((r) => setTimeout(r, 6000)); // past the last delivery's ack wait (4 s)
      await cluster.startCoordinator();
      const done = await cluster.watch(sweepId);
      expect(done).toMatchObject({ state: "failed", failed: 1 + children.length, jobs: plan.jobs.length });
      // The restarted coordinator read the give-up from the advisories stream.
      expect(cluster.coordinator.output()).toMatch(
        new RegExp(`job ${crashingLearn.slice(0, 12)} given up: delivered 3 times without an answer`),
      );
      expect(killedNow() - killedBefore, "workers killed by the job").toBe(3);
      expect(cluster.coordinator.output()).toMatch(new RegExp(`resumed 1 sweep\\(s\\): ${sweepId}\\n`));
    } finally {
      clearInterval(refill);
    }
  });

  it("absorbs a duplicate result: the stored one stays, nothing crashes", async () => {
    const { sweeps } = await cluster.client.call("listSweeps", {});
    const finished = sweeps.find((s) => s.state === "done")!;
    const before = await cluster.client.call("queryResults", { sweepId: finished.id });
    const row = before.rows[0]!;
    const nc = await connectNats({ servers: [cluster.nats.url] }, "duplicate test");
    const { jetstream } = await import("@nats-io/jetstream");
    const duplicate = JobResult.fromPartial({
      jobId: row.job,
      ok: true,
      accuracies: row.accuracies.map(() => 0.125),
      artifactKey: row.job,
      engine: "onnx",
      worker: "impostor",
    });
    await jetstream(nc).publish(resultSubject(row.job), JobResult.encode(duplicate).finish());
    await jetstream(nc).publish(resultSubject(row.job), JobResult.encode(duplicate).finish());
    await waitFor(
      "the coordinator to absorb the duplicates",
      () => (cluster.coordinator.output().match(/duplicate result for job/g)?.length ?? 0) >= 2,
    );
    await nc.close();
    const after = await cluster.client.call("queryResults", { sweepId: finished.id });
    expect(after.rows).toEqual(before.rows);
    expect(cluster.coordinator.child.exitCode).toBeNull();
  });
});
