/**
 * The results intake: every message of the results stream is validated, stored, acked, and only then
 * handed to the sweeps waiting for its job, in that order.
 *   - validate: the codec (every field a store would refuse, named), the subject naming the job, the
 *     caller's extra check (`validate`, e.g. the dispatch's nonce), and a job some sweep planned. A
 *     message that fails is terminated with a logged reason; it never comes back.
 *   - store: results are keyed by job id, so storing one as it arrives is always right, whether or
 *     not a sweep waits for it now (after a restart, before its sweep resumed; for a cancelled
 *     sweep). Nothing is buffered in memory: a sweep that asks later finds the job done.
 *   - ack: after the store, so a coordinator killed between the two reads the result again (then a
 *     duplicate: acked and dropped). A store error leaves it unacked; it comes back after retryMs.
 * The coordinator's max-deliveries advisories (advisories.ts) go through the same store-then-ack.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { ObjectStore } from "@nats-io/obj";
import { CHAINS_BUCKET, decodeResult, getChains, resultSubject } from "@unlearn/cluster";
import type { Store } from "@unlearn/db";
import { JobResult } from "@unlearn/protocol";
import { commitOutput, type DispatchOutput, failedResult } from "@unlearn/sweep";
import type { InFlightJob, InFlightRegistry } from "./registry.ts";

/**
 * An extra condition a result must meet, given its message (headers) and its job's dispatch in
 * flight here, if any: why it is refused, or undefined when it passes (e.g. the dispatch's nonce).
 */
export type ResultCheck = (
  result: JobResult,
  msg: JsMsg,
  inFlight: InFlightJob | undefined,
) => Promise<string | undefined> | string | undefined;

export interface IntakeOptions {
  store: Store;
  jobs: InFlightRegistry;
  objects: ObjectStore;
  validate?: ResultCheck;
  /** the job's outcome is stored: its dispatch is over (the ledger forgets it) */
  settled?(jobId: string): Promise<void>;
  log(line: string): void;
  /** how long a result the store could not take waits before it is delivered again (ms) */
  retryMs?: number;
  /** reads of a result's chains from the object store before that counts as a store error */
  chainReads?: number;
}

const short = (id: string) => id.slice(0, 12);

export class ResultsIntake {
  /** outputs stored here before they reached their sweeps (their commit step is done) */
  private readonly committed = new WeakSet<DispatchOutput>();

  constructor(private readonly o: IntakeOptions) {}

  isCommitted(out: DispatchOutput): boolean {
    return this.committed.has(out);
  }

  async onMessage(msg: JsMsg): Promise<void> {
    let result: JobResult;
    try {
      result = decodeResult(msg.subject, msg.data);
      if (msg.subject !== resultSubject(result.jobId))
        throw new Error(`${msg.subject}: field job_id ${result.jobId} does not match the subject`);
    } catch (error) {
      this.refuse(msg, `rejected a malformed result message: ${(error as Error).message}`);
      await this.failWaiting(msg, (error as Error).message);
      return;
    }
    const entry = this.o.jobs.get(result.jobId);
    let known: boolean;
    try {
      const why = await this.o.validate?.(result, msg, entry);
      if (why) return this.refuse(msg, `refused a result for job ${short(result.jobId)}: ${why}`);
      known = entry !== undefined || (await this.isKnown(result.jobId));
    } catch (error) {
      return this.later(msg, result.jobId, error);
    }
    if (!known)
      return this.refuse(msg, `refused a result for job ${short(result.jobId)}: no sweep planned such a job`);
    await this.deliver(msg, result.jobId, () => this.complete(result));
  }

  /** Whether some sweep planned the job (the database has it). */
  async isKnown(jobId: string): Promise<boolean> {
    return (await this.o.store.getJob(jobId)) !== null;
  }

  /**
   * Stores a job's outcome (unless a result is stored already: a duplicate), acks `msg`, then gives
   * the outcome to every sweep waiting for the job.
   */
  async deliver(msg: JsMsg, jobId: string, outcome: () => Promise<DispatchOutput>): Promise<void> {
    let out: DispatchOutput;
    try {
      const duplicate = (await this.o.store.doneJobIds([jobId])).has(jobId);
      if (duplicate) {
        this.o.log(`duplicate result for job ${short(jobId)} absorbed (already stored)`);
        // A sweep may have dispatched the job again just before the first result was stored.
        if (!this.o.jobs.get(jobId)) return void msg.ack();
      }
      out = await outcome();
      if (!duplicate) await commitOutput(this.o.store, out);
    } catch (error) {
      return this.later(msg, jobId, error);
    }
    msg.ack();
    this.committed.add(out);
    await this.o
      .settled?.(jobId)
      .catch((error) => this.o.log(`job ${short(jobId)}: ${(error as Error).message}`));
    this.o.jobs.settle(jobId, out);
  }

  /** The result with its chains from the object store; an ok result whose chains are gone fails. */
  async complete(result: JobResult): Promise<DispatchOutput> {
    if (!result.ok) return { result };
    const reads = this.o.chainReads ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        const chains = await getChains(this.o.objects, result.jobId);
        if (chains) return { result, artifact: chains };
        const error = `its chains are missing from the object store ${CHAINS_BUCKET}`;
        return { result: { ...result, ok: false, error } };
      } catch (error) {
        // A bucket that cannot be read now is a store error (the result comes back), not a failed job.
        if (attempt >= reads) throw new Error(`its chains could not be read: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /**
   * A job waiting for a result that came malformed would wait forever (its worker has answered): it
   * fails, provided the message passes the extra check as far as it decodes (a forger's does not).
   */
  private async failWaiting(msg: JsMsg, why: string): Promise<void> {
    const jobId = msg.subject.split(".").at(-1) ?? "";
    const entry = this.o.jobs.get(jobId);
    if (!entry) return;
    let raw: JobResult;
    try {
      raw = JobResult.decode(msg.data);
    } catch {
      return;
    }
    const refused = async () => {
      try {
        // Checked as a failure: whether it proves its dispatch, without taking chains it cannot have.
        return await this.o.validate?.({ ...raw, ok: false }, msg, entry);
      } catch {
        return "could not be checked";
      }
    };
    if (raw.jobId !== jobId || (await refused())) return;
    this.o.jobs.settle(jobId, {
      result: failedResult(entry.job, `its worker sent an invalid result: ${why}`),
    });
  }

  private refuse(msg: JsMsg, reason: string): void {
    this.o.log(reason);
    msg.term();
  }

  private later(msg: JsMsg, jobId: string, error: unknown): void {
    const retryMs = this.o.retryMs ?? 5000;
    this.o.log(
      `result for job ${short(jobId)} not stored yet, delivered again in ${retryMs / 1000} s: ${(error as Error).message}`,
    );
    msg.nak(retryMs);
  }
}
