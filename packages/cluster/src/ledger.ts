/**
 * The coordinator's dispatch ledger: the current dispatch of every job in flight, one message per job
 * in the stream DISPATCH_STREAM (which only the coordinator may touch), so that it outlives the
 * coordinator. It is what makes
 *   - a result count only for its job's dispatch (accepts: acceptsResult against the recorded nonce);
 *   - a restarted coordinator, however long it was down, not queue a job again while its message is
 *     still queued or running or its result is waiting (dispatch: no duplicate window involved);
 *   - a graceful hand-back not use up a delivery: the job is queued again as a new message that
 *     carries the deliveries used so far (handBack), the worker terminates the old one;
 *   - a withdrawn job stop: its queued message is deleted, a running one is told to stop (withdraw).
 * Job fusion: dispatchBatch queues several jobs as ONE message (a JobBatch), each job with its own
 * record and nonce, as if dispatched alone; the records name the batch's jobs (batch), so withdrawing
 * one job keeps the message while a mate of it is still wanted. Anything that queues a job of a batch
 * again (a hand-back, a refused upload) queues it alone: a failed or interrupted batch runs unfused.
 */

import { createHash } from "node:crypto";
import {
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type ObjectStore, Objm } from "@nats-io/obj";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { Job, JobBatch } from "@unlearn/protocol";
import { type Chains, ChainsRejected, sealChains, withRetry } from "./chains.ts";
import {
  acceptsResult,
  BATCH_HEADER,
  DELIVERIES_HEADER,
  type Inflight,
  NONCE_HEADER,
  newNonce,
  PRIOR_DELIVERIES_HEADER,
  type ResultProof,
  SEQ_HEADER,
  uploadName,
} from "./dispatch.ts";
import {
  CHAINS_BUCKET,
  COORDINATOR_CONSUMER,
  cancelSubject,
  DISPATCH_STREAM,
  dispatchSubject,
  HANDBACKS_STREAM,
  JOBS_STREAM,
  RESULTS_STREAM,
  resultSubject,
  UPLOADS_BUCKET,
} from "./names.ts";

export interface DispatchRecord extends Inflight {
  /** the job message's subject and stream sequence (0 until its publication is acknowledged) */
  subject: string;
  seq: number;
  /** publications of this dispatch so far: part of each message id, so a hand-back's is not deduplicated */
  publications: number;
  /** deliveries used by earlier messages of this dispatch (handed-back ones not counted) */
  priorDeliveries: number;
  /** the encoded Job, base64: what a hand-back queues again */
  job: string;
  /** job fusion: the ids of the jobs of its message when that is a JobBatch (this one among them) */
  batch?: string[];
}

/**
 * The record a job is queued with on `subject`: a new dispatch, or its known one queued again, alone
 * (a message that held it as part of a batch is gone or no longer counts).
 */
function queuedRecord(
  known: DispatchRecord | null,
  jobId: string,
  subject: string,
  encoded: Uint8Array,
): DispatchRecord {
  if (known) return { ...known, subject, batch: undefined };
  return {
    jobId,
    nonce: newNonce(),
    subject,
    seq: 0,
    publications: 1,
    priorDeliveries: 0,
    job: Buffer.from(encoded).toString("base64"),
  };
}

const notFound = (error: unknown) => /not found|no message/i.test(String(error));

export class DispatchLedger {
  private readonly js: JetStreamClient;
  private readonly cache = new Map<string, DispatchRecord | null>();
  private reader?: ConsumerMessages;
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly buckets: { uploads: ObjectStore; chains: ObjectStore },
    private readonly log: (line: string) => void,
  ) {
    this.js = jetstream(nc);
  }

  /** The ledger over what provision() made (call that first). */
  static async open(nc: NatsConnection, log: (line: string) => void): Promise<DispatchLedger> {
    const objm = new Objm(nc);
    const buckets = { uploads: await objm.open(UPLOADS_BUCKET), chains: await objm.open(CHAINS_BUCKET) };
    return new DispatchLedger(nc, await jetstreamManager(nc), buckets, log);
  }

  /** The job's dispatch in flight, or null. */
  async lookup(jobId: string): Promise<DispatchRecord | null> {
    const cached = this.cache.get(jobId);
    if (cached !== undefined) return cached;
    let record: DispatchRecord | null = null;
    try {
      const m = await this.jsm.streams.getMessage(DISPATCH_STREAM, { last_by_subj: dispatchSubject(jobId) });
      record = m ? (m.json() as DispatchRecord) : null;
    } catch (error) {
      if (!notFound(error)) throw error;
    }
    this.cache.set(jobId, record);
    return record;
  }

  private async save(record: DispatchRecord): Promise<void> {
    await this.js.publish(dispatchSubject(record.jobId), JSON.stringify(record));
    this.cache.set(record.jobId, record);
  }

  /** Whether a result with this proof counts (see acceptsResult). */
  async accepts(proof: ResultProof): Promise<boolean> {
    return acceptsResult(await this.lookup(proof.jobId), proof);
  }

  /**
   * Queues `job` on `subject` unless its dispatch is still under way (message queued or running, or a
   * result of it waiting); returns the dispatch. The record is written before the message, so a crash
   * between the two republishes with the same message id, which JetStream drops if it had arrived.
   */
  async dispatch(job: Job, subject: string, encoded: Uint8Array): Promise<DispatchRecord> {
    const known = await this.lookup(job.id);
    if (known && (await this.underWay(known))) return known;
    const record = queuedRecord(known, job.id, subject, encoded);
    await this.save(record);
    return this.publish(record);
  }

  /**
   * Queues several jobs of one engine (job fusion) on `subject` as ONE JobBatch message, each with its
   * own dispatch (record, nonce), leaving out those whose dispatch is still under way; returns every
   * job's dispatch, in the order given. With one job left to queue it is queued alone (a Job).
   */
  async dispatchBatch(jobs: readonly Job[], subject: string): Promise<DispatchRecord[]> {
    const records: DispatchRecord[] = [];
    const fresh: number[] = [];
    for (const [i, job] of jobs.entries()) {
      const known = await this.lookup(job.id);
      if (known && (await this.underWay(known))) {
        records[i] = known;
        continue;
      }
      records[i] = queuedRecord(known, job.id, subject, Job.encode(job).finish());
      fresh.push(i);
    }
    if (fresh.length === 1) {
      const i = fresh[0]!;
      await this.save(records[i]!);
      records[i] = await this.publish(records[i]!);
    }
    if (fresh.length < 2) return records;
    const ids = fresh.map((i) => records[i]!.jobId);
    for (const i of fresh) {
      records[i] = { ...records[i]!, batch: ids };
      await this.save(records[i]!);
    }
    const members = fresh.map((i) => records[i]!);
    const h = natsHeaders();
    h.set(BATCH_HEADER, String(members.length));
    h.set(NONCE_HEADER, members.map((r) => r.nonce).join(","));
    h.set(PRIOR_DELIVERIES_HEADER, String(Math.max(...members.map((r) => r.priorDeliveries))));
    const body = JobBatch.encode({
      jobs: members.map((r) => Job.decode(Buffer.from(r.job, "base64"))),
    }).finish();
    // The same batch published again (a crash before its records held the sequence) is deduplicated.
    const msgID = createHash("sha256")
      .update(members.map((r) => `${r.nonce}.${r.publications}`).join(","))
      .digest("hex");
    const ack = await this.js.publish(subject, body, { headers: h, msgID });
    for (const i of fresh) {
      records[i] = { ...records[i]!, seq: ack.seq };
      await this.save(records[i]!);
    }
    return records;
  }

  private async publish(record: DispatchRecord): Promise<DispatchRecord> {
    const h = natsHeaders();
    h.set(NONCE_HEADER, record.nonce);
    h.set(PRIOR_DELIVERIES_HEADER, String(record.priorDeliveries));
    const ack = await this.js.publish(record.subject, Buffer.from(record.job, "base64"), {
      headers: h,
      msgID: `${record.nonce}.${record.publications}`,
    });
    const published = { ...record, seq: ack.seq };
    await this.save(published);
    return published;
  }

  /** Its message still in the jobs stream, or a result carrying its nonce waiting to be read. */
  private async underWay(record: DispatchRecord): Promise<boolean> {
    const get = (stream: string, query: { seq: number } | { last_by_subj: string }) =>
      this.jsm.streams.getMessage(stream, query).catch((error) => {
        if (notFound(error)) return null;
        throw error;
      });
    if (record.seq > 0 && (await get(JOBS_STREAM, { seq: record.seq }))) return true;
    const waiting = await get(RESULTS_STREAM, { last_by_subj: resultSubject(record.jobId) });
    return waiting?.header?.get(NONCE_HEADER) === record.nonce;
  }

  /**
   * A worker's graceful hand-back (read from HANDBACKS_STREAM): when it names the current message of
   * the job's dispatch, the job is queued again as a new message that keeps the deliveries used so far,
   * minus the handed-back one. Anything else (a stale or forged hand-back) is ignored.
   */
  async handBack(msg: JsMsg): Promise<"requeued" | "ignored"> {
    const jobId = msg.subject.split(".").pop() ?? "";
    const record = await this.lookup(jobId);
    const h = msg.headers;
    const seq = Number(h?.get(SEQ_HEADER));
    if (!record || !acceptsResult(record, { jobId, nonce: h?.get(NONCE_HEADER) }) || seq !== record.seq)
      return "ignored";
    const counted = Number(h?.get(DELIVERIES_HEADER));
    const priorDeliveries =
      Number.isInteger(counted) && counted >= record.priorDeliveries ? counted : record.priorDeliveries;
    await this.jsm.streams.deleteMessage(JOBS_STREAM, record.seq).catch(() => false);
    // A job of a batch comes back alone (its mates hand themselves back on their own).
    await this.publish({
      ...record,
      batch: undefined,
      publications: record.publications + 1,
      priorDeliveries,
    });
    return "requeued";
  }

  /**
   * The chains of an accepted ok result: its dispatch's upload, checked against the SHA-256 the result
   * reported and sealed into CHAINS_BUCKET under the job id. Object-store errors are retried for up to
   * `retryMs` (then thrown: the result stays unacked and comes back); ChainsRejected when the upload is
   * missing or not what the result reported (the caller refuses the result and requeues the job).
   */
  async takeChains(proof: ResultProof, retryMs = 600_000): Promise<Chains> {
    const record = await this.lookup(proof.jobId);
    if (!record || !acceptsResult(record, proof))
      throw new ChainsRejected(`job ${proof.jobId.slice(0, 12)}: no dispatch in flight with this nonce`);
    const sha = proof.chainsSha256;
    if (!sha)
      throw new ChainsRejected(`job ${proof.jobId.slice(0, 12)}: the ok result names no chains digest`);
    const name = uploadName(proof.jobId, record.nonce);
    return withRetry(
      `sealing the chains of ${proof.jobId.slice(0, 12)}`,
      () => sealChains(this.buckets.uploads, this.buckets.chains, proof.jobId, name, sha),
      { forMs: retryMs, log: this.log },
    );
  }

  /** Queues the job's dispatch again (its result was refused: its chains were not what it reported). */
  async requeue(jobId: string): Promise<void> {
    const record = await this.lookup(jobId);
    if (record) await this.publish({ ...record, batch: undefined, publications: record.publications + 1 });
  }

  /** Reads the hand-backs stream for as long as the ledger is open (re-attached after NATS restarts). */
  async serveHandBacks(): Promise<void> {
    while (!this.closed) {
      try {
        const consumer = await this.js.consumers.get(HANDBACKS_STREAM, COORDINATOR_CONSUMER);
        this.reader = await consumer.consume({ max_messages: 64 });
        for await (const msg of this.reader) {
          const outcome = await this.handBack(msg);
          this.log(`hand-back of job ${msg.subject.split(".").pop()?.slice(0, 12)}: ${outcome}`);
          msg.ack();
        }
      } catch (error) {
        if (!this.closed)
          this.log(`reading ${HANDBACKS_STREAM} failed, retrying: ${(error as Error).message}`);
      }
      if (!this.closed) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.reader?.close();
  }

  /** Whether another job of the record's JobBatch is still dispatched by that same message. */
  private async matesWanted(record: DispatchRecord): Promise<boolean> {
    for (const id of record.batch ?? []) {
      if (id === record.jobId) continue;
      const mate = await this.lookup(id);
      if (mate && mate.seq === record.seq) return true;
    }
    return false;
  }

  /** The job's result is stored (or it failed for good): its dispatch is over. */
  async settle(jobId: string): Promise<void> {
    await this.jsm.streams.purge(DISPATCH_STREAM, { filter: dispatchSubject(jobId) });
    this.cache.set(jobId, null);
  }

  /** No sweep wants the job any more: its queued message goes, a worker running it stops between steps. */
  async withdraw(jobId: string): Promise<void> {
    const record = await this.lookup(jobId);
    if (!record) return;
    if (record.seq > 0 && !(await this.matesWanted(record)))
      await this.jsm.streams.deleteMessage(JOBS_STREAM, record.seq).catch(() => false);
    this.nc.publish(cancelSubject(jobId));
    await this.settle(jobId);
    this.log(`job ${jobId.slice(0, 12)} withdrawn: no sweep waits for it`);
  }
}
