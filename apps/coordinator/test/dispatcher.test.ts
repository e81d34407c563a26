/**
 * The NATS dispatcher and a real worker process, without the scheduler: a learn job and the unlearn job
 * that starts from its chains (through the object store) give the numbers executeJob gives in-process;
 * malformed job and result messages are rejected and logged, and nothing crashes.
 */

import type { NatsConnection } from "@nats-io/transport-node";
import * as accountant from "@unlearn/accountant";
import { connectNats, resultSubject } from "@unlearn/cluster";
import { JobKind } from "@unlearn/protocol";
import { datasetFacts, executeJob, planSweep } from "@unlearn/sweep";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsDispatcher } from "../src/dispatcher.ts";
import { ClusterLink } from "../src/link.ts";
import { tinyConfig } from "./fixtures.ts";
import { Nats, type Proc, spawnWorker, waitFor } from "./harness.ts";

let nats: Nats;
let worker: Proc;
let nc: NatsConnection;
let link: ClusterLink;
const logs: string[] = [];

beforeAll(async () => {
  nats = await Nats.start();
  nc = await connectNats({ servers: [nats.url] }, "dispatcher test");
  link = new ClusterLink(nc, { isStored: async () => false, log: (l) => logs.push(l) });
  await link.start();
  worker = spawnWorker({ NATS_URL: nats.url, WORKER_THREADS: "1", WORKER_HEARTBEAT_MS: "500" });
  await waitFor("the worker to announce itself", () => link.liveWorkers().length === 1, 60_000);
});

afterAll(async () => {
  worker?.kill();
  await link?.close();
  await nc?.close();
  await nats?.stop();
});

describe("NatsDispatcher with a worker process", () => {
  it("runs a learn job and its unlearn child through NATS with executeJob's numbers", async () => {
    const config = tinyConfig({ removals: [1] });
    const facts = await datasetFacts(config);
    const plan = planSweep(config, facts, accountant);
    const learn = plan.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!;
    const child = plan.jobs.find((j) => j.spec!.parentId === learn.id)!;
    const dispatcher = new NatsDispatcher(link, plan.sweepId, facts.d);
    expect(dispatcher.capacity).toBe(1);

    const progress: number[] = [];
    const first = await dispatcher.run({ job: learn, onProgress: (p) => progress.push(p.stepsDone) });
    expect(first.result.error).toBe("");
    expect(first.result.ok).toBe(true);
    expect(first.artifact!.shape).toEqual([facts.d, 2]);
    expect(first.result.worker).toMatch(/:onnx$/);

    const local = await executeJob(learn, { loadArtifact: async () => null, threads: 1 });
    expect(first.result.accuracies).toEqual(local.result.accuracies);
    expect(Array.from(first.artifact!.W)).toEqual(Array.from(local.artifact!.W));

    // The child reads its parent's chains from the object store, where the worker put them.
    const second = await dispatcher.run({ job: child, parentChains: async () => undefined });
    const localChild = await executeJob(child, { loadArtifact: async () => local.artifact!.W, threads: 1 });
    expect(second.result.ok).toBe(true);
    expect(second.result.accuracies).toEqual(localChild.result.accuracies);
    await dispatcher.close();
  });

  it("rejects malformed job and result messages, logs them, and keeps working", async () => {
    await link.js.publish("unlearn.jobs.onnx.bogus", new Uint8Array([1, 2, 3, 255]));
    await link.js.publish(resultSubject("a".repeat(64)), new TextEncoder().encode("not a result"));
    await waitFor(
      "the worker to log the bad job",
      () => /rejected a malformed job message/.test(worker.output()),
      30_000,
    );
    await waitFor(
      "the coordinator to log the bad result",
      () => logs.some((l) => /rejected a malformed result/.test(l)),
      30_000,
    );
    expect(worker.child.exitCode).toBeNull();
    const config = tinyConfig({ removals: [1], burnIn: 100, seed: 7 });
    const facts = await datasetFacts(config);
    const plan = planSweep(config, facts, accountant);
    const dispatcher = new NatsDispatcher(link, plan.sweepId, facts.d);
    const out = await dispatcher.run({ job: plan.jobs[0]! });
    expect(out.result.ok).toBe(true);
    await dispatcher.close();
  });
});
