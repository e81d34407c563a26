/**
 * The cluster as a shared service, with real processes (nats-server, PostgreSQL, coordinators,
 * workers): sweeps that share jobs run each shared job once and a cancelled one leaves the other's
 * jobs alone; the results consumer has nothing pending once sweeps are done; a second coordinator
 * stands by (health NOT_SERVING, calls UNAVAILABLE) and takes over within seconds of the active one's
 * SIGKILL, resuming its sweep; a coordinator waits for PostgreSQL at start.
 */
import { execFileSync } from "node:child_process";
import { credentials, makeClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { jetstreamManager } from "@nats-io/jetstream";
import * as accountant from "@unlearn/accountant";
import { COORDINATOR_CONSUMER, connectNats, RESULTS_STREAM } from "@unlearn/cluster";
import { datasetFacts, planSweep } from "@unlearn/sweep";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "./cluster.ts";
import { tinyConfig } from "./fixtures.ts";
import { createDatabase, freePort, Nats, spawnCoordinator, waitFor } from "./harness.ts";

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ workers: 2 });
});

afterAll(async () => {
  await cluster?.stop();
});

const HealthClient = makeClientConstructor(healthService, "Health");

type HealthCheck = (
  request: { service: string },
  callback: (error: ServiceError | null, response: { status: string }) => void,
) => void;

/** grpc.health.v1 Check of the whole server ("") at 127.0.0.1:port. */
function health(port: number): Promise<string> {
  const client = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const check = (client as unknown as { check: HealthCheck }).check.bind(client);
  return new Promise((resolve, reject) =>
    check({ service: "" }, (error, response) => {
      client.close();
      if (error) reject(error);
      else resolve(response.status);
    }),
  );
}

async function runsOnce(jobIds: string[]): Promise<void> {
  const runs = cluster.runsPerJob();
  for (const id of jobIds) expect(runs.get(id) ?? 0, `runs of job ${id.slice(0, 12)}`).toBe(1);
}

describe("sweeps that share jobs", () => {
  it("run each shared job once; cancelling one mid-run leaves the other to finish; nothing stays pending", async () => {
    // Two sweeps that differ by name only: the same jobs (content-addressed ids), as Figures 4 and 5.
    const A = tinyConfig({ name: "shared A", seed: 61, burnIn: 2500, removals: [1, 10, 50] });
    const B = { ...A, name: "shared B" };
    const plan = planSweep(B, await datasetFacts(B), accountant);
    const [a, b] = await Promise.all(
      [A, B].map((c) => cluster.client.call("submitSweep", { configJson: JSON.stringify(c) })),
    );
    expect(a!.sweepId).not.toBe(b!.sweepId);
    await waitFor(
      "a stored result",
      async () => (await cluster.client.call("getSweep", { sweepId: a!.sweepId })).done >= 1,
      120_000,
    );
    await cluster.client.call("cancelSweep", { sweepId: a!.sweepId });
    expect(await cluster.watch(a!.sweepId)).toMatchObject({ cancelled: true });
    expect(await cluster.watch(b!.sweepId)).toMatchObject({
      state: "done",
      failed: 0,
      jobs: plan.jobs.length,
    });
    // B waited for every job A had running: none was withdrawn, none ran twice.
    await runsOnce(plan.jobs.map((j) => j.id));
    expect(cluster.coordinator.output()).toMatch(/joins its run in flight/);
    // Every result message was stored and acked: the results consumer holds nothing.
    const nc = await connectNats({ servers: [cluster.nats.url] }, "service test");
    try {
      const jsm = await jetstreamManager(nc);
      const info = await waitFor("the results consumer to be drained", async () => {
        const i = await jsm.consumers.info(RESULTS_STREAM, COORDINATOR_CONSUMER);
        return i.num_pending === 0 && i.num_ack_pending === 0 && i;
      });
      expect(info.delivered.stream_seq).toBeGreaterThanOrEqual(plan.jobs.length);
    } finally {
      await nc.close();
    }
  });
});

describe("a standby coordinator", () => {
  it("stands by (NOT_SERVING, UNAVAILABLE) and takes over within seconds of the active one's SIGKILL, resuming its sweep", async () => {
    const standby = await cluster.startStandby();
    try {
      expect(await health(cluster.grpcPort)).toBe("SERVING");
      expect(await health(standby.port)).toBe("NOT_SERVING");
      await expect(standby.client.call("listSweeps", {})).rejects.toMatchObject({ code: 14 });

      const config = tinyConfig({ seed: 62, burnIn: 2500, removals: [1, 10, 50] });
      const plan = planSweep(config, await datasetFacts(config), accountant);
      const { sweepId } = await cluster.client.call("submitSweep", { configJson: JSON.stringify(config) });
      await waitFor(
        "a stored result",
        async () => (await cluster.client.call("getSweep", { sweepId })).done >= 1,
        120_000,
      );
      cluster.coordinator.kill("SIGKILL");
      const killed = performance.now();
      await waitFor("the standby to serve", async () => (await health(standby.port)) === "SERVING", 30_000);
      const takeover = performance.now() - killed;
      console.log(`standby serving ${(takeover / 1000).toFixed(1)} s after the active coordinator's SIGKILL`);
      expect(takeover).toBeLessThan(15_000);
      expect(standby.proc.output()).toMatch(new RegExp(`resumed 1 sweep\\(s\\): ${sweepId}`));
      const done = await cluster.watch(sweepId, () => {}, standby.client);
      expect(done).toMatchObject({ state: "done", failed: 0, jobs: plan.jobs.length });
      await runsOnce(plan.jobs.map((j) => j.id));
    } finally {
      standby.client.close();
      standby.proc.kill();
      await standby.proc.exited;
    }
  });

  it("waits for its database at start instead of exiting", async () => {
    const db = createDatabase();
    db.drop();
    const name = db.url.split("/").at(-1)!;
    const port = await freePort();
    // NATS of its own: once serving, it must not read the cluster's results.
    const nats = await Nats.start();
    const late = spawnCoordinator(
      { ...cluster.baseEnv(), NATS_URL: nats.url, DATABASE_URL: db.url, GRPC_ADDR: `127.0.0.1:${port}` },
      "late",
    );
    try {
      await waitFor("it to say it waits", () =>
        /PostgreSQL unreachable for the lease, retrying/.test(late.output()),
      );
      expect(await health(port)).toBe("NOT_SERVING");
      execFileSync("createdb", [
        "-h",
        "127.0.0.1",
        "-p",
        process.env.PGPORT || "5432",
        "-U",
        process.env.PGUSER || "postgres",
        name,
      ]);
      await waitFor("it to serve", () => /active: serving/.test(late.output()), 60_000);
      expect(late.child.exitCode).toBeNull();
    } finally {
      late.kill();
      await late.exited;
      await nats.stop();
      db.drop();
    }
  });
});
