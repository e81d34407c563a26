/**
 * A job's life on real worker processes and a real nats-server, with the coordinator's side of a
 * dispatch (ledger-side.ts):
 *   - SIGTERM hands a running job back without using up a delivery (max_deliver 1: a counted hand-back
 *     would have given the job up); another worker finishes it;
 *   - a job whose steps stop advancing (a hung engine) is handed back after WORKER_STALL_MS and runs
 *     again, instead of being held forever by in-progress acks;
 *   - a withdrawn job stops between steps on its worker, publishes nothing, and frees the slot;
 *   - WORKER_DEVICE reaches the engine;
 *   - a restarted coordinator does not queue a job again however long it was down (no dedup window);
 *   - object-store reads ride out a nats-server outage (retried, not failed);
 *   - a process waits for NATS at start, saying so, instead of exiting.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { type NatsConnection, nanos } from "@nats-io/transport-node";
import * as accountant from "@unlearn/accountant";
import {
  CHAINS_BUCKET,
  connectNats,
  DispatchLedger,
  getChains,
  JOBS_STREAM,
  type JobLimits,
  progressSubject,
  provision,
  withRetry,
  workerConsumer,
} from "@unlearn/cluster";
import { type Job, JobKind, JobProgress } from "@unlearn/protocol";
import { datasetFacts, planSweep } from "@unlearn/sweep";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tinyConfig } from "./fixtures.ts";
import { freePort, Nats, type Proc, spawnProc, spawnWorker, waitFor } from "./harness.ts";
import { LedgerSide } from "./ledger-side.ts";

let nats: Nats;
let nc: NatsConnection;
let jsm: JetStreamManager;
let side: LedgerSide;
const procs: Proc[] = [];

/** A learn job of `steps` steps (about 0.2 ms each here), of a sweep of its own. */
async function learnJob(steps: number, seed: number): Promise<Job> {
  const config = tinyConfig({ burnIn: steps, seed });
  const plan = planSweep(config, await datasetFacts(config), accountant);
  return plan.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!;
}

async function limits(l: JobLimits): Promise<void> {
  await provision(nc, { engines: ["onnx", "reference"], limits: l });
}

function worker(env: NodeJS.ProcessEnv = {}, script?: string): Proc {
  const base = { NATS_URL: nats.url, WORKER_THREADS: "1", WORKER_HEARTBEAT_MS: "500", ...env };
  const proc = script ? spawnProc(["--import", "tsx", script], base, "worker") : spawnWorker(base);
  procs.push(proc);
  return proc;
}

/** Resolves once the job's first progress is published (it is running). */
function running(job: Job): Promise<void> {
  return new Promise((resolve) => {
    const sub = nc.subscribe(progressSubject(job.sweepId), {
      callback: (_e, msg) => {
        if (JobProgress.decode(msg.data).stepsDone > 0) {
          sub.unsubscribe();
          resolve();
        }
      },
    });
  });
}

beforeAll(async () => {
  nats = await Nats.start();
  nc = await connectNats({ servers: [nats.url] }, "lifecycle test", { waitMs: 0 });
  await limits({ ackWaitMs: 3000, maxDeliver: 1 });
  jsm = await jetstreamManager(nc);
  side = await LedgerSide.start(nc);
});

afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.kill();
    await p.exited;
  }
});

afterAll(async () => {
  await side?.stop();
  await nc?.close();
  await nats?.stop();
});

describe("a job's life on the workers", () => {
  it("SIGTERM hands a running job back without using up a delivery; another worker finishes it", async () => {
    const job = await learnJob(60_000, 101);
    const leaving = worker({ WORKER_STOP_GRACE_MS: "300" });
    await side.dispatch(job);
    await running(job);
    leaving.kill("SIGTERM");
    expect(await leaving.exited).toBe(0);
    expect(leaving.output()).toMatch(
      new RegExp(`job ${job.id.slice(0, 12)} handed back \\(delivery 1 not counted\\)`),
    );
    // max_deliver is 1: had the hand-back counted, the next delivery would be given up unrun.
    const staying = worker();
    const done = await waitFor("the handed-back job's result", () => side.stored.get(job.id), 90_000);
    expect(done.result.error).toBe("");
    expect(done.result.ok).toBe(true);
    expect(staying.output()).toMatch(new RegExp(`job ${job.id} done in \\d+ ms \\(delivery 1\\)`));
    expect(done.result.worker).toBe(`${staying.output().match(/\[worker ([^\]]+)\]/)![1]}`);
  });

  it("hands back a job whose steps stop advancing (a hung engine) after WORKER_STALL_MS; it runs again", async () => {
    await limits({ ackWaitMs: 3000, maxDeliver: 3 });
    const job = await learnJob(2000, 102);
    const hanging = worker(
      { HANG_JOB: job.id, WORKER_STALL_MS: "1500" },
      "apps/coordinator/test/lifecycle-worker.ts",
    );
    await side.dispatch(job);
    const done = await waitFor("the job after its hang", () => side.stored.get(job.id), 60_000);
    expect(done.result.ok).toBe(true);
    expect(hanging.output()).toMatch(
      new RegExp(`job ${job.id.slice(0, 12)}: no step for \\d+ ms \\(limit 1500 ms\\): handed back`),
    );
    expect(hanging.output()).toMatch(new RegExp(`job ${job.id} done in \\d+ ms \\(delivery 2\\)`));
  });

  it("stops a withdrawn job between steps: nothing is published, the slot takes the next job", async () => {
    const long = await learnJob(400_000, 103);
    const w = worker();
    await side.dispatch(long);
    await running(long);
    await side.ledger.withdraw(long.id);
    await waitFor("the worker to stop the job", () =>
      w.output().includes(`job ${long.id.slice(0, 12)} withdrawn by the coordinator: stopped`),
    );
    const next = await learnJob(1000, 104);
    await side.dispatch(next);
    await waitFor("the next job's result", () => side.stored.get(next.id), 60_000);
    expect(side.stored.has(long.id)).toBe(false);
    expect(side.refused).toEqual([]);
    expect(w.output()).not.toMatch(new RegExp(`job ${long.id} (done|failed)`));
    const consumer = await jsm.consumers.info(JOBS_STREAM, workerConsumer("onnx"));
    expect(consumer.num_pending + consumer.num_ack_pending).toBe(0);
  });

  it("gives the worker's WORKER_DEVICE to the engine (the reference engine refuses cuda, naming it)", async () => {
    const job = await learnJob(500, 106);
    worker({ WORKER_ENGINE: "reference", WORKER_DEVICE: "cuda" });
    await side.dispatch(job, "reference");
    const done = await waitFor("its failed result", () => side.stored.get(job.id), 60_000);
    expect(done.result.ok).toBe(false);
    expect(done.result.error).toMatch(/device "cuda" is not available .*\(failed on each of 3 deliveries\)/);
  });

  it("a restarted coordinator does not queue a job again, however far past the duplicate window", async () => {
    // A one-second window, waited out: only the ledger can tell the job is queued already.
    const info = await jsm.streams.info(JOBS_STREAM);
    await jsm.streams.update(JOBS_STREAM, { ...info.config, duplicate_window: nanos(1000) });
    const job = await learnJob(1000, 105);
    const first = await side.dispatch(job, "reference"); // no reference worker: it stays queued
    await new Promise((r) => setTimeout(r, 1500));
    const restarted = await DispatchLedger.open(nc, () => {});
    const again = await restarted.dispatch(job, first.subject, new Uint8Array(0));
    expect(again).toMatchObject({ nonce: first.nonce, seq: first.seq });
    const queued = await jsm.consumers.info(JOBS_STREAM, workerConsumer("reference"));
    expect(queued.num_pending).toBe(1);
    await restarted.withdraw(job.id);
    expect((await jsm.consumers.info(JOBS_STREAM, workerConsumer("reference"))).num_pending).toBe(0);
  });

  it("object-store reads are retried through a nats-server outage instead of failing", async () => {
    // Requests time out after 1 s here, so the outage shows as errors to retry rather than a wait.
    const chains = await new Objm(jetstream(nc, { timeout: 1000 })).open(CHAINS_BUCKET);
    const W = new Float32Array([1, 2, 3, 4, 5, 6]);
    await chains.putBlob({ name: "outage", metadata: { shape: "3,2" } }, new Uint8Array(W.buffer));
    await nats.down();
    const lines: string[] = [];
    const read = withRetry("reading chains", () => getChains(chains, "outage"), {
      log: (l) => lines.push(l),
    });
    await new Promise((r) => setTimeout(r, 2500));
    await nats.up();
    const got = await read;
    expect(Array.from(got!.W)).toEqual(Array.from(W));
    expect(lines[0]).toMatch(/reading chains failed \(attempt 1\), retrying in 500 ms/);
  });

  it("waits for NATS at start, saying so, and connects once it is up", async () => {
    const late = new Nats(await freePort());
    const lines: string[] = [];
    const connecting = connectNats({ servers: [late.url] }, "late", {
      retryMs: 300,
      log: (l) => lines.push(l),
    });
    await new Promise((r) => setTimeout(r, 1200));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[0]).toMatch(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: .*; retrying in 300 ms/);
    await late.up();
    try {
      const conn = await connecting;
      expect(conn.info?.port).toBe(late.port);
      await conn.close();
    } finally {
      await late.stop();
    }
  });
});
