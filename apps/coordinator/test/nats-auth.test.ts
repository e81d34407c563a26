/**
 * Least privilege on NATS, against a real nats-server started with `pnpm coordinator nats-config`'s
 * authorization block: a real worker process with the worker user runs a dispatched job (its result is
 * accepted, its chains sealed by the coordinator's side); a holder of worker credentials (another
 * worker user, same permissions) cannot provision, publish a job, edit the workers' consumer, read the
 * jobs or another user's inbox, or write the sealed chains; the results it forges (no nonce, a wrong
 * one, a job never dispatched) and the uploads it plants are refused, and nothing forged is stored.
 *
 * The coordinator's side here is @unlearn/cluster's (provision, DispatchLedger) with a results reader
 * that does what the coordinator's intake does with a result (ledger-side.ts).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Base64UrlPaddedCodec, Objm } from "@nats-io/obj";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import * as accountant from "@unlearn/accountant";
import {
  CHAINS_BUCKET,
  ChainsRejected,
  connectNats,
  type DispatchLedger,
  getChains,
  JOBS_STREAM,
  jobSubject,
  NONCE_HEADER,
  provision,
  resultHeaders,
  resultSubject,
  UPLOADS_BUCKET,
  uploadChains,
  workerConsumer,
} from "@unlearn/cluster";
import { Job, JobKind, JobResult } from "@unlearn/protocol";
import { datasetFacts, executeJob, planSweep } from "@unlearn/sweep";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsAuthorization } from "../src/nats-config.ts";
import { tinyConfig } from "./fixtures.ts";
import { freePort, type Proc, spawnWorker, waitFor } from "./harness.ts";
import { LedgerSide } from "./ledger-side.ts";

const dir = mkdtempSync(join(tmpdir(), "unlearn-nats-auth-"));
const passwords = {
  NATS_COORDINATOR_PASSWORD: randomBytes(12).toString("hex"),
  NATS_WORKER_PASSWORD: randomBytes(12).toString("hex"),
  NATS_WORKER_B_PASSWORD: randomBytes(12).toString("hex"),
};
let server: Proc | undefined;
let url: string;
let coordinator: NatsConnection;
let attacker: NatsConnection;
let jsm: JetStreamManager;
let ledger: DispatchLedger;
let worker: Proc;
let side: LedgerSide;

async function startServer(): Promise<void> {
  const port = await freePort();
  url = `nats://127.0.0.1:${port}`;
  const conf = join(dir, "nats.conf");
  const auth = natsAuthorization({ coordinatorUser: "coordinator", workers: ["worker", "worker-b"] });
  writeFileSync(conf, `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(dir, "js")}" }\n${auth}`);
  const child = spawn("/usr/sbin/nats-server", ["-c", conf], {
    env: { ...process.env, ...passwords },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  server = { child, pid: child.pid!, output: () => output, exited, kill: (s = "SIGKILL") => child.kill(s) };
  await waitFor("nats-server with the generated config", () => /Server is ready/.test(output), 20_000);
}

const as = (user: string, password: string) =>
  connectNats({ servers: [url], user, password }, `auth test ${user}`, { waitMs: 0 });

let jobs: { learn: Job; other: Job[] };

beforeAll(async () => {
  await startServer();
  coordinator = await as("coordinator", passwords.NATS_COORDINATOR_PASSWORD);
  // "reference" has no worker here: its jobs stay queued, in flight, for the forgery tests.
  await provision(coordinator, {
    engines: ["onnx", "reference"],
    limits: { ackWaitMs: 5000, maxDeliver: 3 },
  });
  jsm = await jetstreamManager(coordinator);
  side = await LedgerSide.start(coordinator);
  ledger = side.ledger;
  attacker = await as("worker-b", passwords.NATS_WORKER_B_PASSWORD);
  const config = tinyConfig({ removals: [1, 10] });
  const plan = planSweep(config, await datasetFacts(config), accountant);
  const learn = plan.jobs.find((j) => j.spec!.kind === JobKind.JOB_KIND_LEARN)!;
  jobs = { learn, other: plan.jobs.filter((j) => j.id !== learn.id) };
  worker = spawnWorker({
    NATS_URL: url,
    NATS_USER: "worker",
    NATS_PASSWORD: passwords.NATS_WORKER_PASSWORD,
    WORKER_THREADS: "1",
  });
});

afterAll(async () => {
  await side?.stop();
  worker?.kill();
  await attacker?.close();
  await coordinator?.close();
  server?.kill();
  await server?.exited;
  rmSync(dir, { recursive: true, force: true });
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
});
