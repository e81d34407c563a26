/**
 * The real coordinator and worker processes on a nats-server with `pnpm coordinator nats-config`'s
 * users, and PostgreSQL: the coordinator user provisions, the worker user runs the sweep, and a holder
 * of worker credentials who forges results for every job of the sweep, before and while it runs (ok
 * and failed, no nonce or a made-up one), gets nothing stored: every stored result is the real
 * worker's, and the coordinator logged each forgery refused (or, once its job was stored, absorbed).
 * `--cancel` stops a running job on its worker between steps.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import * as accountant from "@unlearn/accountant";
import { connectNats, progressSubject, resultHeaders, resultSubject } from "@unlearn/cluster";
import { JobProgress, JobResult } from "@unlearn/protocol";
import { datasetFacts, planSweep } from "@unlearn/sweep";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthedNats } from "./authed-nats.ts";
import { TOKEN } from "./cluster.ts";
import { tinyConfig } from "./fixtures.ts";
import {
  createDatabase,
  freePort,
  type Proc,
  spawnCoordinator,
  spawnProc,
  spawnWorker,
  waitFor,
} from "./harness.ts";

let nats: AuthedNats;
let db: { url: string; drop(): void };
let coordinator: Proc;
let worker: Proc;
let attacker: NatsConnection;
let grpcPort: number;

beforeAll(async () => {
  nats = await AuthedNats.start(["worker", "worker-b"]);
  db = createDatabase();
  grpcPort = await freePort();
  coordinator = spawnCoordinator({
    ...nats.env("coordinator"),
    DATABASE_URL: db.url,
    GRPC_ADDR: `127.0.0.1:${grpcPort}`,
    COORDINATOR_TOKEN: TOKEN,
  });
  await waitFor("the coordinator to serve", () => /active: serving/.test(coordinator.output()), 60_000);
  worker = spawnWorker({ ...nats.env("worker"), WORKER_THREADS: "1", WORKER_HEARTBEAT_MS: "500" });
  attacker = await connectNats(
    { servers: [nats.url], user: "worker-b", password: nats.passwords.get("worker-b") },
    "forger",
    { waitMs: 0 },
  );
});

afterAll(async () => {
  await attacker?.close();
  worker?.kill();
  coordinator?.kill();
  await Promise.all([worker?.exited, coordinator?.exited]);
  await nats?.stop();
  db?.drop();
});

const psql = (sql: string) => execFileSync("psql", [db.url, "-At", "-c", sql], { encoding: "utf8" }).trim();

describe("the coordinator and a worker on least-privilege NATS users", () => {
  it("run a sweep; results forged with worker credentials are refused and none is stored", async () => {
    const config = tinyConfig({ seed: 61, burnIn: 2000 });
    const plan = planSweep(config, await datasetFacts(config), accountant);
    const forgeAll = async () => {
      for (const job of plan.jobs) {
        const forged = JobResult.encode(
          JobResult.fromPartial({
            jobId: job.id,
            ok: true,
            accuracies: Array(config.chains).fill(0.125),
            artifactKey: job.id,
            engine: job.engine,
            worker: "forger",
          }),
        ).finish();
        const failure = JobResult.encode(
          JobResult.fromPartial({ jobId: job.id, ok: false, error: "forged failure", worker: "forger" }),
        ).finish();
        const js = jetstream(attacker);
        await js.publish(resultSubject(job.id), forged);
        await js.publish(resultSubject(job.id), forged, {
          headers: resultHeaders(randomBytes(16).toString("hex")),
        });
        await js.publish(resultSubject(job.id), failure, {
          headers: resultHeaders(randomBytes(16).toString("hex")),
        });
      }
    };
    await forgeAll(); // before any dispatch: the "accepted even before the job is dispatched"
    const dir = mkdtempSync(join(tmpdir(), "unlearn-auth-sweep-"));
    const file = join(dir, "sweep.json");
    writeFileSync(file, JSON.stringify(config));
    const sweep = spawnProc(
      [
        "--import",
        "tsx",
        "apps/cli/src/main.ts",
        "sweep",
        "--coordinator",
        `127.0.0.1:${grpcPort}`,
        "--config",
        file,
        "--json",
        "--figures-dir",
        dir,
      ],
      { UNLEARN_TOKEN: TOKEN },
      "cli",
    );
    await waitFor("a job to run", () => /job [0-9a-f]{64} done/.test(worker.output()), 90_000);
    await forgeAll(); // and while it runs
    const code = await sweep.exited;
    expect(code, sweep.output()).toBe(0);
    const summary = JSON.parse(sweep.output().trim().split("\n").at(-1)!);
    expect(summary).toMatchObject({ state: "done", failed: 0, jobs: plan.jobs.length });

    const ids = plan.jobs.map((j) => `'${j.id}'`).join(",");
    expect(psql(`select count(*) from results where job_id in (${ids})`)).toBe(String(plan.jobs.length));
    expect(psql(`select count(*) from results where worker = 'forger' or 0.125 = any(accuracies)`)).toBe("0");
    const workerId = worker.output().match(/\[worker ([^\]]+)\]/)![1]!;
    expect(psql(`select count(*) from results where worker like '${workerId}%'`)).toBe(
      String(plan.jobs.length),
    );
    // Each forgery was refused, or (sent after its job was stored) absorbed as a duplicate, unstored.
    const log = coordinator.output();
    const refused = log.match(
      /refused a result for job [0-9a-f]{12}: it carries no dispatch nonce|its nonce is not/g,
    );
    const absorbed = log.match(/duplicate result for job [0-9a-f]{12} absorbed/g);
    expect((refused?.length ?? 0) + (absorbed?.length ?? 0)).toBeGreaterThanOrEqual(6 * plan.jobs.length);
    expect(refused?.length ?? 0).toBeGreaterThanOrEqual(3 * plan.jobs.length);
  });

  it("--cancel stops the sweep's running job on its worker between steps; nothing of it is stored", async () => {
    const config = tinyConfig({ seed: 62, burnIn: 400_000 }); // its learn job alone runs over a minute
    const plan = planSweep(config, await datasetFacts(config), accountant);
    const learn = plan.jobs.find((j) => !j.spec!.parentId)!;
    const dir = mkdtempSync(join(tmpdir(), "unlearn-auth-cancel-"));
    const file = join(dir, "sweep.json");
    writeFileSync(file, JSON.stringify(config));
    const cli = (args: string[]) =>
      spawnProc(
        [
          "--import",
          "tsx",
          "apps/cli/src/main.ts",
          "sweep",
          "--coordinator",
          `127.0.0.1:${grpcPort}`,
          ...args,
        ],
        { UNLEARN_TOKEN: TOKEN },
        "cli",
      );
    const sweep = cli(["--config", file, "--json", "--figures-dir", dir]);
    const sweepId = (await waitFor(
      "the sweep to start",
      () => sweep.output().match(/sweep ([0-9a-f]{16}):/)?.[1],
    ))!;
    // Its first progress, seen as the coordinator user sees it (a worker user may not listen there).
    const observer = await connectNats(
      { servers: [nats.url], user: "coordinator", password: nats.passwords.get("coordinator") },
      "observer",
      { waitMs: 0 },
    );
    const step = await observer
      .subscribe(progressSubject(sweepId), { max: 1 })
      [Symbol.asyncIterator]()
      .next();
    expect(JobProgress.decode(step.value!.data).jobId).toBe(learn.id);
    await observer.close();
    const cancel = cli(["--cancel", sweepId]);
    expect(await cancel.exited, cancel.output()).toBe(0);
    await waitFor(
      "the worker to stop the running job",
      () => worker.output().includes(`job ${learn.id.slice(0, 12)} withdrawn by the coordinator: stopped`),
      20_000,
    );
    await sweep.exited;
    expect(psql(`select count(*) from results where job_id = '${learn.id}'`)).toBe("0");
    expect(worker.output()).not.toMatch(new RegExp(`job ${learn.id} (done|failed)`));
  });
});
