/**
 * Bounded storage in the cluster, with real processes: after a sweep, the chains bucket holds no
 * chains of its jobs (each left once no job of the sweep needed it), PostgreSQL holds only the chains
 * of the job the others start from, and the bucket has its bounds.
 */

import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import * as accountant from "@unlearn/accountant";
import { CHAINS_BUCKET } from "@unlearn/cluster";
import { openStore } from "@unlearn/db";
import { datasetFacts, planSweep } from "@unlearn/sweep";
import { afterAll, describe, expect, it } from "vitest";
import { Cluster, TEST_CHAINS_MAX_BYTES } from "./cluster.ts";
import { tinyConfig } from "./fixtures.ts";
import { waitFor } from "./harness.ts";

let cluster: Cluster | undefined;
afterAll(async () => {
  await cluster?.stop();
});

describe("chains retention in the cluster", () => {
  it("the bucket keeps a job's chains only while a job of the sweep may start from them", async () => {
    cluster = await Cluster.start({ workers: 1 });
    const config = tinyConfig({ seed: 31 });
    const plan = planSweep(config, await datasetFacts(config), accountant);
    const parents = plan.jobs
      .filter((j) => plan.jobs.some((c) => c.spec!.parentId === j.id))
      .map((j) => j.id);
    expect(parents.length).toBeGreaterThan(0);
    const { sweepId } = await cluster.client.call("submitSweep", { configJson: JSON.stringify(config) });
    expect(await cluster.watch(sweepId)).toMatchObject({ state: "done", failed: 0, jobs: plan.jobs.length });

    const nc = await connect({ servers: cluster.nats.url });
    try {
      const bucket = await new Objm(nc).open(CHAINS_BUCKET);
      // Deletions follow the results (fire and forget): give them a moment.
      const held = async () =>
        (await bucket.list()).map((o) => o.name).filter((n) => plan.jobs.some((j) => j.id === n));
      await waitFor(
        "the bucket to let go of the sweep's chains",
        async () => (await held()).length === 0,
        20_000,
      );
      const { config: stream } = await (await jetstreamManager(nc)).streams.info(`OBJ_${CHAINS_BUCKET}`);
      expect(stream.max_bytes).toBe(TEST_CHAINS_MAX_BYTES);
    } finally {
      await nc.close();
    }
    const store = await openStore(cluster.db.url);
    try {
      expect(await store.hasArtifacts(plan.jobs.map((j) => j.id))).toEqual(new Set(parents));
      expect(await store.sweepStorage(sweepId)).toMatchObject({
        jobs: plan.jobs.length,
        chains: parents.length,
      });
    } finally {
      await store.close();
    }
  });
});
