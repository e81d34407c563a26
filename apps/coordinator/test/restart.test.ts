/**
 * Restarts mid-sweep, with real processes: the coordinator SIGKILLed and started again resumes the sweep
 * from the database without recomputing a finished job; a nats-server killed and started again on the
 * same store is reconnected to by the coordinator and the workers, and the sweep completes.
 */
import * as accountant from "@unlearn/accountant";
import { datasetFacts, planSweep } from "@unlearn/sweep";
import { afterEach, describe, expect, it } from "vitest";
import { Cluster } from "./cluster.ts";
import { tinyConfig } from "./fixtures.ts";
import { waitFor } from "./harness.ts";

let cluster: Cluster | undefined;

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** Six jobs of a second or two each on two workers: long enough to interrupt halfway. */
const CONFIG = tinyConfig({ seed: 21, burnIn: 2500, removals: [1, 10, 50] });

describe("restarts mid-sweep", () => {
  it("resumes a sweep after the coordinator is SIGKILLed, recomputing nothing that had finished", async () => {
    cluster = await Cluster.start({ workers: 2 });
    const plan = planSweep(CONFIG, await datasetFacts(CONFIG), accountant);
    const { sweepId } = await cluster.client.call("submitSweep", { configJson: JSON.stringify(CONFIG) });
    await waitFor(
      "two stored results",
      async () => (await cluster!.client.call("getSweep", { sweepId })).done >= 2,
      120_000,
    );
    cluster.coordinator.kill("SIGKILL");
    await cluster.coordinator.exited;
    const before = await (async () => {
      // The database as the killed coordinator left it (read through a fresh coordinator below).
      await cluster!.startCoordinator();
      return (await cluster!.client.call("queryResults", { sweepId })).rows.map((r) => r.job);
    })();
    expect(cluster.coordinator.output()).toMatch(/resumed 1 sweep/);
    const done = await cluster.watch(sweepId);
    expect(done).toMatchObject({ state: "done", failed: 0, jobs: plan.jobs.length });
    const runs = cluster.runsPerJob();
    for (const id of new Set(before)) expect(runs.get(id), `job ${id} ran again`).toBe(1);
    const after = await cluster.client.call("queryResults", { sweepId });
    expect(new Set(after.rows.map((r) => r.job)).size).toBe(plan.jobs.length);
  });

  it("completes a sweep across a nats-server restart", async () => {
    cluster = await Cluster.start({ workers: 2 });
    const config = { ...CONFIG, seed: 22 };
    const plan = planSweep(config, await datasetFacts(config), accountant);
    const { sweepId } = await cluster.client.call("submitSweep", { configJson: JSON.stringify(config) });
    await waitFor(
      "a stored result",
      async () => (await cluster!.client.call("getSweep", { sweepId })).done >= 1,
      120_000,
    );
    await cluster.nats.down();
    await new Promise((r) => setTimeout(r, 2000));
    await cluster.nats.up();
    const done = await cluster.watch(sweepId);
    expect(done).toMatchObject({ state: "done", failed: 0, jobs: plan.jobs.length });
    expect(cluster.workers.every((w) => w.child.exitCode === null)).toBe(true);
  });
});
