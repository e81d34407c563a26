/**
 * Least privilege on NATS, against a real nats-server started with `pnpm coordinator nats-config`'s
 * authorization block: a real worker process with the worker user runs a dispatched job (its result is
 * accepted, its chains sealed by the coordinator's side); a holder of worker credentials (another
 * worker user, same permissions) cannot provision, publish a job, edit the workers' consumer, read the
 * jobs or another user's inbox, or write the sealed chains; the results it forges (no nonce, a wrong
 * one, a job never dispatched) and the uploads it plants are refused, and nothing forged is stored;
 * heartbeats (capacity, stopping) under another user's worker id do not get through. Job fusion: the
 * worker runs a JobBatch (each job's result with its own nonce, its own chains sealed); a worker user
 * cannot queue a batch, and a batch mate's nonce does not pass for another job's.
 *
 * The coordinator's side here is @unlearn/cluster's (provision, DispatchLedger) with a results reader
 * that does what the coordinator's intake does with a result (ledger-side.ts).
 */
import { randomBytes } from "node:crypto";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Base64UrlPaddedCodec, Objm } from "@nats-io/obj";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import * as accountant from "@unlearn/accountant";
import {
  BATCH_HEADER,
  CHAINS_BUCKET,
  ChainsRejected,
  connectNats,
  DELIVERIES_HEADER,
  type DispatchLedger,
  decodeHeartbeat,
  getChains,
  handbackSubject,
  JOBS_STREAM,
  jobSubject,
  NONCE_HEADER,
  provision,
  resultHeaders,
  resultSubject,
  SEQ_HEADER,
  UPLOADS_BUCKET,
  uploadChains,
  WORKERS_ALL,
  workerConsumer,
  workerSubject,
} from "@unlearn/cluster";
import { Job, JobBatch, JobKind, JobResult, WorkerInfo } from "@unlearn/protocol";
import { datasetFacts, executeJob, planSweep } from "@unlearn/sweep";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthedNats } from "./authed-nats.ts";
import { tinyConfig } from "./fixtures.ts";
import { type Proc, spawnWorker, waitFor } from "./harness.ts";
import { LedgerSide } from "./ledger-side.ts";

let nats: AuthedNats;
let coordinator: NatsConnection;
let attacker: NatsConnection;
let jsm: JetStreamManager;
let ledger: DispatchLedger;
let worker: Proc;
let side: LedgerSide;

const as = (user: string) =>
  connectNats({ servers: [nats.url], user, password: nats.passwords.get(user) }, `auth test ${user}`, {
    waitMs: 0,
  });

let jobs: { learn: Job; other: Job[] };

beforeAll(async () => {
  nats = await AuthedNats.start(["worker", "worker-b"]);
  coordinator = await as("coordinator");
  // "reference" has no worker here: its jobs stay queued, in flight, for the forgery tests.
  await provision(coordinator, {
    engines: ["onnx", "reference"],
    limits: { ackWaitMs: 5000, maxDeliver: 3 },
  });
  jsm = await jetstreamManager(coordinator);
  side = await LedgerSide.start(coordinator);
  ledger = side.ledger;
  attacker = await as("worker-b");
  const config = tinyConfig({ removals: [1, 10] });
  const plan = planSweep(config, await datasetFacts(config), accountant);
  const learn = plan.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!;
  jobs = { learn, other: plan.jobs.filter((j) => j.id !== learn.id) };
  worker = spawnWorker({ ...nats.env("worker"), WORKER_THREADS: "1" });
});

afterAll(async () => {
  await side?.stop();
  worker?.kill();
  await attacker?.close();
  await coordinator?.close();
  await nats?.stop();
});

const dispatch = (job: Job, engine = job.engine) => side.dispatch(job, engine);

const refusedByPermissions = /Permissions Violation/;

describe("the worker user", () => {
  it("runs a dispatched job: its result carries the nonce, its chains are sealed under the job id", async () => {
    await dispatch(jobs.learn);
    const done = await waitFor("the learn job's result", () => side.stored.get(jobs.learn.id), 90_000);
    expect(done.result.ok).toBe(true);
    const local = await executeJob(jobs.learn, { loadArtifact: async () => null, threads: 1 });
    expect(done.result.accuracies).toEqual(local.result.accuracies);
    const sealed = await getChains(await new Objm(coordinator).open(CHAINS_BUCKET), jobs.learn.id);
    expect(Array.from(sealed!.W)).toEqual(Array.from(local.artifact!.W));
    // The worker bound to what the coordinator made; it created nothing.
    expect(worker.output()).toMatch(/ack wait 5000 ms, 3 deliveries/);
    expect((await jsm.streams.names().next()).sort()).not.toContain("EVIL");
  });

  it("cannot provision, queue a job, edit the workers' consumer, or read the jobs or another user's inbox", async () => {
    const ajsm = await jetstreamManager(attacker, { checkAPI: false });
    await expect(ajsm.streams.add({ name: "EVIL", subjects: ["evil.>"] })).rejects.toThrow(
      refusedByPermissions,
    );
    await expect(
      ajsm.consumers.update(JOBS_STREAM, workerConsumer("onnx"), { ack_wait: 3_600_000_000_000 }),
    ).rejects.toThrow(refusedByPermissions);
    await expect(ajsm.streams.purge(JOBS_STREAM)).rejects.toThrow(refusedByPermissions);
    await expect(ajsm.streams.getMessage(JOBS_STREAM, { seq: 1 })).rejects.toThrow(refusedByPermissions);
    await expect(
      jetstream(attacker).publish(jobSubject("onnx", "evil"), Job.encode(jobs.learn).finish()),
    ).rejects.toThrow(refusedByPermissions);
    // The limits are still the coordinator's.
    const info = await jsm.consumers.info(JOBS_STREAM, workerConsumer("onnx"));
    expect(info.config.ack_wait).toBe(5000 * 1_000_000);
    // Another user's inbox (where its pulled jobs, with their nonces, arrive) is closed to it.
    const sniff = attacker.subscribe("_INBOX_worker.>");
    await expect(
      (async () => {
        for await (const _ of sniff) break;
      })(),
    ).rejects.toThrow(refusedByPermissions);
    expect(sniff.isClosed()).toBe(true);
  });

  it("forges results in vain: no nonce, a wrong nonce, a job never dispatched; nothing forged is stored", async () => {
    const target = jobs.other[0]!;
    const record = await dispatch(target, "reference"); // queued, no reference worker: in flight
    const forged = JobResult.encode({
      ...JobResult.fromPartial({ jobId: target.id, ok: true, accuracies: [1], artifactKey: target.id }),
      engine: "reference",
    }).finish();
    const ajs = jetstream(attacker);
    await ajs.publish(resultSubject(target.id), forged);
    await ajs.publish(resultSubject(target.id), forged, {
      headers: resultHeaders(randomBytes(16).toString("hex")),
    });
    const never = jobs.other[1]!;
    const forgedNever = JobResult.encode(
      JobResult.fromPartial({ jobId: never.id, ok: true, accuracies: [1], artifactKey: never.id }),
    ).finish();
    await ajs.publish(resultSubject(never.id), forgedNever, {
      headers: resultHeaders(randomBytes(16).toString("hex")),
    });
    await waitFor("the forged results to be refused", () => side.refused.length >= 3, 20_000);
    expect(side.refused).toEqual([
      `${target.id}: no nonce`,
      `${target.id}: wrong nonce`,
      `${never.id}: wrong nonce`,
    ]);
    expect(side.stored.has(target.id) || side.stored.has(never.id)).toBe(false);
    // The real dispatch is untouched: still in flight with its nonce, its message still queued.
    expect((await ledger.lookup(target.id))?.nonce).toBe(record.nonce);
    expect((await jsm.streams.getMessage(JOBS_STREAM, { seq: record.seq }))?.header?.get(NONCE_HEADER)).toBe(
      record.nonce,
    );
    side.refused.length = 0;
  });

  it("cannot overwrite another job's chains, and its planted uploads are refused", async () => {
    const chainsOf = async () => getChains(await new Objm(coordinator).open(CHAINS_BUCKET), jobs.learn.id);
    const before = await chainsOf();
    const junk = { W: new Float32Array(before!.W.length).fill(7), shape: before!.shape };
    // The sealed bucket: the library's put and a raw publish of a new meta message are both refused.
    const sealedAsAttacker = await new Objm(attacker).open(CHAINS_BUCKET, false);
    await expect(sealedAsAttacker.putBlob({ name: jobs.learn.id }, new Uint8Array(64))).rejects.toThrow(
      refusedByPermissions,
    );
    const meta = `$O.${CHAINS_BUCKET}.M.${Base64UrlPaddedCodec.encode(jobs.learn.id)}`;
    const h = headers();
    h.set("Nats-Rollup", "sub");
    await expect(jetstream(attacker).publish(meta, "{}", { headers: h })).rejects.toThrow(
      refusedByPermissions,
    );
    // Uploads cannot be read (their names would say where to write) ...
    await expect(new Objm(attacker).open(UPLOADS_BUCKET)).rejects.toThrow(refusedByPermissions);
    // ... and one planted for a job in flight, with a result that names its digest, is refused unsealed.
    const target = jobs.other[2]!;
    await dispatch(target, "reference");
    const sha = await uploadChains(attacker, `${target.id}.planted`, junk);
    const forged = JobResult.encode(
      JobResult.fromPartial({ jobId: target.id, ok: true, accuracies: [1], artifactKey: target.id }),
    ).finish();
    await jetstream(attacker).publish(resultSubject(target.id), forged, {
      headers: resultHeaders(randomBytes(16).toString("hex"), sha),
    });
    await waitFor("the planted result to be refused", () => side.refused.length >= 1, 20_000);
    expect(side.stored.has(target.id)).toBe(false);
    expect(await getChains(await new Objm(coordinator).open(CHAINS_BUCKET), target.id)).toBeNull();
    await expect(
      ledger.takeChains({ jobId: target.id, nonce: "0".repeat(32), chainsSha256: sha }),
    ).rejects.toThrow(ChainsRejected);
    expect(Array.from((await chainsOf())!.W)).toEqual(Array.from(before!.W));
  });

  it("cannot announce capacity, or say stopping, under another user's worker id", async () => {
    const seen: string[] = [];
    const sub = coordinator.subscribe(WORKERS_ALL, {
      callback: (_e, m) => {
        try {
          const w = decodeHeartbeat(m.subject, m.data);
          seen.push(`${m.subject} ${w.id} ${w.concurrency} ${w.stopping}`);
        } catch (error) {
          seen.push(`refused: ${(error as Error).message}`);
        }
      },
    });
    const real = await waitFor("the worker's heartbeat", () =>
      seen.find((l) => l.startsWith(workerSubject("worker"))),
    );
    const id = real.split(" ")[1]!;
    expect(id).toMatch(/^worker@.+:\d+:onnx$/);
    const spoof = WorkerInfo.encode(
      WorkerInfo.fromPartial({ id, engine: "onnx", concurrency: 64, stopping: true }),
    ).finish();
    attacker.publish(workerSubject("worker"), spoof); // not its subject: the server drops it
    attacker.publish(workerSubject("worker-b"), spoof); // its own subject: the id is not its user's
    await attacker.flush();
    await new Promise((r) => setTimeout(r, 1500));
    sub.unsubscribe();
    expect(seen.filter((l) => / 64 /.test(l))).toEqual([]);
    expect(seen).toContain(
      `refused: ${workerSubject("worker-b")}: field id ${JSON.stringify(id)} is not one of NATS user worker-b's workers (worker-b@…)`,
    );
  });

  it("cannot hand back a job it does not hold: a hand-back without its nonce, or of another message, is ignored", async () => {
    const target = jobs.other[3]!;
    const record = await dispatch(target, "reference"); // queued, not pulled by anyone
    const handBack = (nonce: string, seq: number) => {
      const h = headers();
      h.set(NONCE_HEADER, nonce);
      h.set(SEQ_HEADER, String(seq));
      h.set(DELIVERIES_HEADER, "0");
      return jetstream(attacker).publish(handbackSubject(target.id), new Uint8Array(0), { headers: h });
    };
    await handBack(randomBytes(16).toString("hex"), record.seq);
    await handBack(record.nonce, record.seq + 1000);
    await waitFor(
      "both hand-backs to be read",
      () =>
        side.log.filter((l) => l.startsWith(`hand-back of job ${target.id.slice(0, 12)}: ignored`)).length ===
        2,
    );
    expect(await ledger.lookup(target.id)).toMatchObject({ seq: record.seq, publications: 1 });
    expect((await jsm.streams.getMessage(JOBS_STREAM, { seq: record.seq }))?.header?.get(NONCE_HEADER)).toBe(
      record.nonce,
    );
  });

  it("runs a JobBatch: each job's result with its own nonce and chains; cannot queue a batch; a mate's nonce is refused", async () => {
    const config = tinyConfig({ removals: [1, 10], seed: 70, burnIn: 100 });
    const plan = planSweep(config, await datasetFacts(config), accountant);
    const roots = plan.jobs.filter((j) => !j.spec!.parentId);
    expect(roots.length).toBe(3);
    // A worker user cannot queue a batch.
    const h = headers();
    h.set(BATCH_HEADER, String(roots.length));
    await expect(
      jetstream(attacker).publish(jobSubject("onnx", "evil"), JobBatch.encode({ jobs: roots }).finish(), {
        headers: h,
      }),
    ).rejects.toThrow(refusedByPermissions);
    const refusedBefore = side.refused.length;
    const records = await side.dispatchBatch(roots);
    expect(new Set(records.map((r) => r.seq)).size).toBe(1);
    expect(new Set(records.map((r) => r.nonce)).size).toBe(3);
    const sealed = await new Objm(coordinator).open(CHAINS_BUCKET);
    for (const job of roots) {
      const done = await waitFor(
        `the result of ${job.id.slice(0, 12)}`,
        () => side.stored.get(job.id),
        90_000,
      );
      expect(done.result.ok).toBe(true);
      expect(done.result.fusedColumns).toBe(6);
      expect((await getChains(sealed, job.id))?.W.length).toBe(done.chains!.W.length);
    }
    expect(side.refused.slice(refusedBefore)).toEqual([]);
    side.refused.length = 0;
    // A batch no worker runs (reference): a result for one job with its mate's nonce is refused.
    const other = planSweep(
      tinyConfig({ removals: [1, 10], seed: 71 }),
      await datasetFacts(config),
      accountant,
    );
    const queued = other.jobs.filter((j) => !j.spec!.parentId);
    const [x, y] = await side.dispatchBatch(queued, "reference");
    const forged = JobResult.encode(
      JobResult.fromPartial({ jobId: x!.jobId, ok: false, error: "forged", engine: "reference" }),
    ).finish();
    await jetstream(attacker).publish(resultSubject(x!.jobId), forged, { headers: resultHeaders(y!.nonce) });
    await waitFor("the forged result to be refused", () => side.refused.length >= 1, 20_000);
    expect(side.refused).toEqual([`${x!.jobId}: wrong nonce`]);
    expect(side.stored.has(x!.jobId)).toBe(false);
    side.refused.length = 0;
  });
});
