/**
 * The NATS dispatcher and the results intake with a real nats-server, a real worker process and a
 * PostgreSQL database, without the scheduler: the Dispatcher contract (packages/sweep's conformance
 * suite, shared with the thread dispatcher), one dispatch per job however many sweeps wait for it,
 * cancelling one sweep without touching another's jobs, and the intake's validate, store, ack.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import * as accountant from "@unlearn/accountant";
import {
  COORDINATOR_CONSUMER,
  connectNats,
  jobSubject,
  RESULTS_STREAM,
  resultHeaders,
  resultSubject,
} from "@unlearn/cluster";
import { openStore, type Store } from "@unlearn/db";
import { Job, JobKind, JobResult } from "@unlearn/protocol";
import { datasetFacts, planSweep, registerSweep, type SweepConfig } from "@unlearn/sweep";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dispatcherConformance } from "../../../packages/sweep/test/dispatcher-conformance.ts";
import { NatsDispatcher } from "../src/dispatcher.ts";
import { ClusterLink } from "../src/link.ts";
import { tinyConfig } from "./fixtures.ts";
import { createDatabase, Nats, type Proc, spawnWorker, waitFor } from "./harness.ts";

let nats: Nats;
let db: ReturnType<typeof createDatabase>;
let store: Store;
let worker: Proc;
/** the conformance suite's fused batch runs on the reference engine (bit-identical to each job alone) */
let referenceWorker: Proc;
let nc: NatsConnection;
let jsm: JetStreamManager;
let link: ClusterLink;
const logs: string[] = [];

beforeAll(async () => {
  nats = await Nats.start();
  db = createDatabase();
  store = await openStore(db.url);
  nc = await connectNats({ servers: [nats.url] }, "dispatcher test");
  jsm = await jetstreamManager(nc);
  // JetStream reserves the chains bucket's bound on disk: the 20 GiB default fails on a fuller disk.
  process.env.CHAINS_BUCKET_MAX_BYTES = String(256 * 1024 ** 2);
  link = new ClusterLink(nc, { store, log: (l) => logs.push(l) });
  await link.start();
  worker = spawnWorker({ NATS_URL: nats.url, WORKER_THREADS: "1", WORKER_HEARTBEAT_MS: "500" });
  referenceWorker = spawnWorker(
    { NATS_URL: nats.url, WORKER_THREADS: "1", WORKER_HEARTBEAT_MS: "500", WORKER_ENGINE: "reference" },
    "reference worker",
  );
  await waitFor("the workers to announce themselves", () => link.workers.live().length === 2, 60_000);
});

afterAll(async () => {
  worker?.kill();
  referenceWorker?.kill();
  await link?.close();
  await nc?.close();
  await store?.close();
  await nats?.stop();
  db?.drop();
});

/** A sweep's plan registered in the store, as runSweep registers it. */
async function registered(config: SweepConfig) {
  const facts = await datasetFacts(config);
  const plan = planSweep(config, facts, accountant);
  await registerSweep(store, config, plan);
  const learn = plan.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!;
  return { plan, d: facts.d, learn, children: plan.jobs.filter((j) => j.spec!.parentId === learn.id) };
}

const runsOf = (job: Job) =>
  worker.output().match(new RegExp(`job ${job.id} (?:done|failed) in`, "g"))?.length ?? 0;

async function resultsPending(): Promise<{ pending: number; unacked: number }> {
  const info = await jsm.consumers.info(RESULTS_STREAM, COORDINATOR_CONSUMER);
  return { pending: info.num_pending, unacked: info.num_ack_pending };
}

describe("one dispatch per job, many waiters", () => {
  it("runs a job two sweeps share once, gives both its result, and a cancelled sweep leaves the other's job running", async () => {
    // Two sweeps (their names differ) that plan the same jobs, as Figures 4 and 5 share theirs.
    const a = await registered(tinyConfig({ name: "sweep A", seed: 51, burnIn: 2500 }));
    const b = await registered(tinyConfig({ name: "sweep B", seed: 51, burnIn: 2500 }));
    expect(a.plan.sweepId).not.toBe(b.plan.sweepId);
    expect(b.learn.id).toBe(a.learn.id);
    // Their engine's slots (the reference worker's are not theirs).
    const A = new NatsDispatcher(link, a.plan.sweepId, a.d, { engine: "onnx" });
    const B = new NatsDispatcher(link, b.plan.sweepId, b.d, { engine: "onnx" });
    // Both sweeps wait for the learn job: it counts as their own, not as a slot the other holds.
    const learnA = A.run([{ job: a.learn }])[0]!;
    const learnB = B.run([{ job: b.learn }])[0]!;
    expect(A.capacity).toBe(1);
    const [outA, outB] = await Promise.all([learnA, learnB]);
    expect(outA.result.ok && outB.result.ok).toBe(true);
    expect(outB.result.accuracies).toEqual(outA.result.accuracies);
    expect(runsOf(a.learn)).toBe(1);
    // The intake stored it as it arrived, so both commits have nothing left to write.
    expect((await store.doneJobIds([a.learn.id])).size).toBe(1);
    await A.commit(outA, store);

    // Cancel A while the child both wait for runs: B still gets it; A's cancel withdrew nothing.
    const child = a.children[0]!;
    let running!: () => void;
    const started = new Promise<void>((resolve) => {
      running = resolve;
    });
    const childA = A.run([{ job: child }])[0]!;
    const childB = B.run([{ job: child, onProgress: () => running() }])[0]!;
    await started;
    await A.close();
    expect((await childA).result.error).toBe("cancelled");
    const kept = await childB;
    expect(kept.result).toMatchObject({ ok: true, jobId: child.id });
    expect(logs.some((l) => l.includes(`job ${child.id.slice(0, 12)} withdrawn`))).toBe(false);
    expect(runsOf(child)).toBe(1);
    await B.close();
  });

  it("reuses a job another sweep finished meanwhile instead of running it again", async () => {
    const a = await registered(tinyConfig({ name: "sweep A2", seed: 55 }));
    const b = await registered(tinyConfig({ name: "sweep B2", seed: 55 }));
    const A = new NatsDispatcher(link, a.plan.sweepId, a.d);
    const first = await A.run([{ job: a.learn }])[0]!;
    expect(first.result.ok).toBe(true);
    // B planned the job before A finished it (its todo still has it), and reaches it only now.
    const B = new NatsDispatcher(link, b.plan.sweepId, b.d);
    const again = await B.run([{ job: b.learn }])[0]!;
    expect(again.result).toMatchObject({ ok: true, accuracies: first.result.accuracies });
    expect(Array.from(again.artifact!.W)).toEqual(Array.from(first.artifact!.W));
    expect(runsOf(a.learn)).toBe(1);
    expect(logs).toContain(
      `job ${a.learn.id.slice(0, 12)} of sweep ${b.plan.sweepId}: stored meanwhile, reused`,
    );
    // A leaf too, whose chains no store keeps (nothing starts from them): its result is reused all the same.
    const leaf = a.children[0]!;
    expect((await A.run([{ job: leaf }])[0]!).result.ok).toBe(true);
    expect(await store.wantsChains(leaf.id)).toBe(false);
    const leafAgain = await B.run([{ job: leaf }])[0]!;
    expect(leafAgain.result).toMatchObject({ ok: true, jobId: leaf.id });
    expect(runsOf(leaf)).toBe(1);
    await A.close();
    await B.close();
  });

  it("withdraws a queued job when the only sweep waiting for it is cancelled", async () => {
    // No worker serves the tfjs engine here: the job stays queued until it is withdrawn.
    const c = await registered(tinyConfig({ name: "sweep C", seed: 52, engine: "tfjs" }));
    const C = new NatsDispatcher(link, c.plan.sweepId, c.d);
    const out = C.run([{ job: c.learn }])[0]!;
    await waitFor(
      "the job to be queued",
      async () => (await jsm.streams.info("UNLEARN_JOBS")).state.messages > 0,
    );
    await C.close();
    expect((await out).result.error).toBe("cancelled");
    expect(logs.some((l) => l.startsWith(`job ${c.learn.id.slice(0, 12)} withdrawn`))).toBe(true);
    expect((await jsm.streams.info("UNLEARN_JOBS")).state.messages).toBe(0);
  });
});

describe("the results intake", () => {
  // As a worker publishes: with the nonce of the job's dispatch (a result without it is refused).
  const publish = (jobId: string, r: Partial<JobResult>, nonce = link.jobs.get(jobId)?.nonce ?? "") =>
    link.js.publish(resultSubject(jobId), JobResult.encode(JobResult.fromPartial({ jobId, ...r })).finish(), {
      headers: resultHeaders(nonce),
    });

  it("terminates a result with a NaN wall_ms, naming the field, and fails the job waiting for it", async () => {
    const e = await registered(tinyConfig({ name: "sweep E", seed: 53, engine: "tfjs" }));
    const E = new NatsDispatcher(link, e.plan.sweepId, e.d);
    const out = E.run([{ job: e.learn }])[0]!;
    await waitFor("its dispatch", () => link.jobs.get(e.learn.id)?.nonce);
    await publish(e.learn.id, {
      ok: true,
      accuracies: [0.5, 0.5],
      artifactKey: e.learn.id,
      wallMs: Number.NaN,
      engine: "tfjs",
    });
    const failed = await out;
    expect(failed.result.ok).toBe(false);
    expect(failed.result.error).toMatch(
      /invalid result: .*field wall_ms must be a finite number ≥ 0, got NaN/,
    );
    expect(logs.some((l) => /rejected a malformed result message: .*field wall_ms/.test(l))).toBe(true);
    await E.commit(failed, store);
    expect(await store.getJob(e.learn.id)).toMatchObject({ state: "failed" });
    await E.close();
  });

  it("stores a valid result no sweep waits for now (no buffer), refuses one for no planned job, and leaves nothing pending", async () => {
    const f = await registered(tinyConfig({ name: "sweep F", seed: 54, engine: "tfjs" }));
    // A failed result of a job dispatched, that nobody waits for now (e.g. a restarted coordinator whose
    // sweep has not resumed yet): stored at once.
    const dispatch = await link.ledger.dispatch(
      f.learn,
      jobSubject("tfjs", f.plan.sweepId),
      Job.encode(f.learn).finish(),
    );
    await publish(f.learn.id, { ok: false, error: "worker gave up", engine: "tfjs" }, dispatch.nonce);
    await publish("f".repeat(64), { ok: false, error: "no such job", engine: "tfjs" });
    await waitFor(
      "the intake to store the result",
      async () => (await store.getJob(f.learn.id))?.state === "failed",
    );
    await waitFor("the intake to refuse the stray result", () =>
      logs.some((l) =>
        l.includes(`refused a result for job ${"f".repeat(12)}: it carries no dispatch nonce`),
      ),
    );
    await jsm.streams.deleteMessage("UNLEARN_JOBS", dispatch.seq);
    expect((await store.getJob(f.learn.id))?.error).toBe("worker gave up");
    await waitFor("the results consumer to have nothing pending", async () => {
      const { pending, unacked } = await resultsPending();
      return pending === 0 && unacked === 0;
    });
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
    const g = await registered(tinyConfig({ removals: [1], burnIn: 100, seed: 7 }));
    const dispatcher = new NatsDispatcher(link, g.plan.sweepId, g.d);
    const out = await dispatcher.run([{ job: g.learn }])[0]!;
    expect(out.result.ok).toBe(true);
    await dispatcher.close();
  });
});

// Last: its close() test leaves the worker running a long withdrawn job.
dispatcherConformance("NATS JetStream (NatsDispatcher) with a worker process", () => ({
  store,
  dispatcher: (sweepId, d) => new NatsDispatcher(link, sweepId, d),
}));
