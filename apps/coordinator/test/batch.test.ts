/**
 * Job fusion on the wire, with a real nats-server, real worker processes and PostgreSQL: the NATS
 * dispatcher sends a batch as ONE JetStream message (a JobBatch), each job with its own dispatch; the
 * worker runs it fused and each job's result is stored once, with fusedColumns; a worker SIGKILLed
 * mid-batch leaves the message to be redelivered and the batch completes with no job run twice to a
 * stored result; after a failed batch a job is dispatched again alone; a forged batch result is refused.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import * as accountant from "@unlearn/accountant";
import {
  connectNats,
  JOBS_STREAM,
  newNonce,
  RESULTS_STREAM,
  resultHeaders,
  resultSubject,
  workerConsumer,
} from "@unlearn/cluster";
import { openStore, type Store } from "@unlearn/db";
import { type Job, JobKind, JobResult } from "@unlearn/protocol";
import { datasetFacts, planSweep, registerSweep, type SweepConfig } from "@unlearn/sweep";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsDispatcher } from "../src/dispatcher.ts";
import { ClusterLink } from "../src/link.ts";
import { tinyConfig } from "./fixtures.ts";
import { createDatabase, Nats, type Proc, spawnWorker, waitFor } from "./harness.ts";

let nats: Nats;
let db: ReturnType<typeof createDatabase>;
let store: Store;
let nc: NatsConnection;
let jsm: JetStreamManager;
let link: ClusterLink;
const workers: Proc[] = [];
const logs: string[] = [];

const workerEnv = () => ({ NATS_URL: nats.url, WORKER_THREADS: "1", WORKER_HEARTBEAT_MS: "500" });

beforeAll(async () => {
  nats = await Nats.start();
  db = createDatabase();
  store = await openStore(db.url);
  nc = await connectNats({ servers: [nats.url] }, "batch test");
  jsm = await jetstreamManager(nc);
  process.env.CHAINS_BUCKET_MAX_BYTES = String(256 * 1024 ** 2);
  // Short, so that a killed worker's batch comes back within the test.
  process.env.JOB_ACK_WAIT_MS = "3000";
  link = new ClusterLink(nc, { store, log: (l) => logs.push(l) });
  await link.start();
  workers.push(spawnWorker({ ...workerEnv(), WORKER_BATCH_COLUMNS: "64" }, "worker 1"));
  await waitFor("the worker to announce itself", () => link.workers.live().length === 1, 60_000);
});

afterAll(async () => {
  for (const w of workers) w.kill();
  await link?.close();
  await nc?.close();
  await store?.close();
  await nats?.stop();
  db?.drop();
  delete process.env.JOB_ACK_WAIT_MS;
});

async function registered(config: SweepConfig) {
  const facts = await datasetFacts(config);
  const plan = planSweep(config, facts, accountant);
  await registerSweep(store, config, plan);
  const learn = plan.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!;
  return { plan, d: facts.d, learn, rest: plan.jobs.filter((j) => j !== learn) };
}

const lastSeq = async () => (await jsm.streams.info(JOBS_STREAM)).state.last_seq;
const doneLines = (w: Proc, job: Job) =>
  w.output().match(new RegExp(`job ${job.id} done in`, "g"))?.length ?? 0;

describe("job fusion on the wire", () => {
  it("advertises the workers' width, capped by UNLEARN_BATCH_COLUMNS", async () => {
    const a = await registered(tinyConfig({ name: "width", seed: 60 }));
    const dispatcher = new NatsDispatcher(link, a.plan.sweepId, a.d);
    expect(dispatcher.batchColumns("onnx", "cpu")).toBe(64);
    process.env.UNLEARN_BATCH_COLUMNS = "8";
    try {
      expect(dispatcher.batchColumns("onnx", "cpu")).toBe(8);
    } finally {
      delete process.env.UNLEARN_BATCH_COLUMNS;
    }
    // No worker of that engine: @unlearn/core's default for it.
    expect(dispatcher.batchColumns("webgpu", "cpu")).toBe(10_000);
    await dispatcher.close();
  });

  it("sends a batch of 4 jobs as one message; each result is stored once, with fusedColumns", async () => {
    const a = await registered(tinyConfig({ name: "batch", seed: 61, burnIn: 100 }));
    const dispatcher = new NatsDispatcher(link, a.plan.sweepId, a.d);
    const [learn] = dispatcher.run([{ job: a.learn }]);
    expect((await learn!).result.ok).toBe(true);
    expect(a.rest.length).toBe(4);
    const before = await lastSeq();
    const delivered = (await jsm.consumers.info(JOBS_STREAM, workerConsumer("onnx"))).delivered.stream_seq;
    const outs = await Promise.all(dispatcher.run(a.rest.map((job) => ({ job }))));
    // One message on the jobs stream for the four jobs, delivered once.
    expect((await lastSeq()) - before).toBe(1);
    const info = await jsm.consumers.info(JOBS_STREAM, workerConsumer("onnx"));
    expect(info.delivered.stream_seq - delivered).toBe(1);
    const columns = a.rest.length * 2; // 4 jobs × 2 chains (binary)
    for (const [i, out] of outs.entries()) {
      expect(out.result.ok, out.result.error).toBe(true);
      expect(out.result.jobId).toBe(a.rest[i]!.id);
      expect(out.result.fusedColumns).toBe(columns);
      expect(await store.getResult(a.rest[i]!.id)).not.toBeNull();
      expect(doneLines(workers[0]!, a.rest[i]!)).toBe(1);
    }
    expect(logs.some((l) => /queued as one batch/.test(l))).toBe(true);
    expect(logs.some((l) => /duplicate result|refused a result/.test(l))).toBe(false);
    // Reused, not run again: every job is stored on its own.
    const again = await Promise.all(dispatcher.run(a.rest.map((job) => ({ job }))));
    expect(again.map((o) => o.result.ok)).toEqual([true, true, true, true]);
    expect((await lastSeq()) - before).toBe(1);
    await dispatcher.close();
  });

  it("refuses a result for a job of a batch that carries another job's nonce", async () => {
    // A reference-engine batch no worker serves: it stays queued while a forger answers for it.
    const f = await registered(tinyConfig({ name: "forged", seed: 62, engine: "reference", burnIn: 100 }));
    const dispatcher = new NatsDispatcher(link, f.plan.sweepId, f.d);
    const jobs = f.plan.jobs.filter((j) => !j.spec!.parentId);
    const outs = dispatcher.run(jobs.map((job) => ({ job })));
    await waitFor("the batch's dispatches", () => jobs.every((j) => link.jobs.get(j.id)?.nonce));
    const [x, y] = jobs;
    const mateNonce = link.jobs.get(y!.id)!.nonce!;
    for (const nonce of [mateNonce, newNonce()])
      await link.js.publish(
        resultSubject(x!.id),
        JobResult.encode(
          JobResult.fromPartial({ jobId: x!.id, ok: false, error: "forged", engine: "reference" }),
        ).finish(),
        { headers: resultHeaders(nonce) },
      );
    await waitFor(
      "both forgeries refused",
      () => logs.filter((l) => l.startsWith(`refused a result for job ${x!.id.slice(0, 12)}`)).length >= 2,
    );
    expect(link.jobs.get(x!.id)).toBeDefined();
    await dispatcher.close();
    for (const out of await Promise.all(outs)) expect(out.result.error).toBe("cancelled");
    // Withdrawn whole: the batch's one message is gone.
    await waitFor(
      "the batch withdrawn",
      async () => (await jsm.streams.info(JOBS_STREAM)).state.messages === 0,
    );
  });

  it("completes a batch whose worker was SIGKILLed mid-run, storing each result once", async () => {
    // Retraining jobs at 20000 steps: long enough to be killed mid-batch.
    const k = await registered(tinyConfig({ name: "kill", seed: 63, burnIn: 20_000, removals: [1, 10, 20] }));
    const jobs = k.plan.jobs.filter((j) => !j.spec!.parentId);
    expect(jobs.length).toBeGreaterThanOrEqual(3);
    const dispatcher = new NatsDispatcher(link, k.plan.sweepId, k.d);
    let stepped = false;
    const outs = dispatcher.run(
      jobs.map((job) => ({
        job,
        onProgress: (p: { stepsDone: number; stepsTotal: number }) => {
          if (p.stepsDone > 0 && p.stepsDone < p.stepsTotal) stepped = true;
        },
      })),
    );
    await waitFor("the batch to step on worker 1", () => stepped, 60_000);
    const first = workers[0]!;
    first.child.kill("SIGKILL");
    await waitFor("worker 1 to die", () => first.child.exitCode !== null || first.child.signalCode !== null);
    workers.push(spawnWorker(workerEnv(), "worker 2"));
    const second = workers[1]!;
    const results = await Promise.all(outs);
    for (const [i, out] of results.entries()) {
      expect(out.result.ok, out.result.error).toBe(true);
      expect(out.result.fusedColumns).toBe(jobs.length * 2);
      expect(doneLines(first, jobs[i]!)).toBe(0);
      expect(doneLines(second, jobs[i]!)).toBe(1);
      expect(await store.getResult(jobs[i]!.id)).not.toBeNull();
    }
    expect(
      logs.some(
        (l) =>
          /duplicate result|refused a result for job/.test(l) &&
          jobs.some((j) => l.includes(j.id.slice(0, 12))),
      ),
    ).toBe(false);
    const pending = await jsm.consumers.info(RESULTS_STREAM, "coordinator");
    expect(pending.num_ack_pending).toBe(0);
    await dispatcher.close();
  });

  it("uploads a parent's chains again when the bucket dropped them (the object's info stays, marked deleted)", async () => {
    const p = await registered(tinyConfig({ name: "dropped", seed: 65, burnIn: 100 }));
    const dispatcher = new NatsDispatcher(link, p.plan.sweepId, p.d);
    const [learn] = dispatcher.run([{ job: p.learn }]);
    const W = (await learn!).artifact!.W;
    // As the coordinator drops chains no sweep needs any more (sweeps.ts, dropChains).
    await link.objects.delete(p.learn.id);
    expect((await link.objects.info(p.learn.id))?.deleted).toBe(true);
    const children = p.rest.filter((j) => j.spec!.parentId === p.learn.id);
    const outs = await Promise.all(
      dispatcher.run(children.map((job) => ({ job, parentChains: async () => W }))),
    );
    for (const out of outs) expect(out.result.ok, out.result.error).toBe(true);
    await dispatcher.close();
  });

  it("dispatches a job again alone after its batch failed", async () => {
    // A parent whose chains are nowhere: its children fail in the batch, then each runs again alone.
    const r = await registered(tinyConfig({ name: "retry", seed: 64, burnIn: 100 }));
    const dispatcher = new NatsDispatcher(link, r.plan.sweepId, r.d);
    const children = r.rest.filter((j) => j.spec!.parentId === r.learn.id);
    const failed = await Promise.all(
      dispatcher.run(children.map((job) => ({ job, parentChains: async () => new Float32Array(32) }))),
    );
    // One chain where the jobs have two: the fused run fails each job, each with its own failed result.
    expect(children.length).toBe(2);
    for (const o of failed) expect(o.result.error).toMatch(/failed in a fused batch of 2 jobs/);
    expect(children.every((j) => !link.jobs.get(j.id))).toBe(true);
    const [learn] = dispatcher.run([{ job: r.learn }]);
    expect((await learn!).result.ok).toBe(true);
    const before = await lastSeq();
    for (const job of children) {
      const [out] = dispatcher.run([{ job }]);
      expect((await out!).result.ok).toBe(true);
      expect((await out!).result.fusedColumns).toBeUndefined();
    }
    expect((await lastSeq()) - before).toBe(children.length);
    await dispatcher.close();
  });
});
