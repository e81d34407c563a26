/**
 * The cluster's Dispatcher (packages/sweep/src/dispatcher.ts): one per sweep, over the coordinator's
 * ClusterLink. A job is sent over JetStream once, by the first sweep that runs it; a sweep that runs a
 * job already in flight waits for the same result (registry.ts). Results are committed (stored, then
 * acked) by the link's intake as they arrive, so commit() has left only the failures made here.
 */
import { getChains, jobSubject, putChains } from "@unlearn/cluster";
import { batchColumns as coreBatchColumns } from "@unlearn/core";
import type { Store } from "@unlearn/db";
import { Job } from "@unlearn/protocol";
import {
  commitOutput,
  type Dispatcher,
  type DispatchOutput,
  type DispatchRequest,
  failedResult,
  batchColumnsFromEnv as unlearnBatchColumns,
} from "@unlearn/sweep";
import type { ClusterLink } from "./link.ts";
import type { InFlightJob } from "./registry.ts";

export class NatsDispatcher implements Dispatcher {
  onCapacityChange?: () => void;
  /** jobs this sweep waits for */
  private readonly mine = new Set<string>();
  /** outputs read back from the store (nothing to commit) */
  private readonly reused = new WeakSet<DispatchOutput>();
  private closed = false;
  private readonly unlisten: () => void;

  /**
   * d: the dataset's dimension, the first axis of every chains array of this sweep. onQueued: told
   * when a job this sweep dispatched is queued (the ledger, not a message id, keeps a restarted
   * coordinator from queueing it twice). engine: the sweep's engine, whose workers' slots are its
   * capacity (all workers' when omitted).
   */
  constructor(
    private readonly link: ClusterLink,
    readonly sweepId: string,
    private readonly d: number,
    private readonly options: { onQueued?: (job: Job) => void; engine?: string } = {},
  ) {
    this.unlisten = link.workers.onCapacity(() => this.onCapacityChange?.());
  }

  /**
   * The live workers' slots less those other sweeps' jobs hold (at least 1): concurrent sweeps share
   * the cluster instead of each queueing a full cluster's worth, so every scheduler's
   * longest-path-first choice still decides what runs next. A job this sweep shares counts as its own.
   */
  get capacity(): number {
    const { engine } = this.options;
    return Math.max(
      1,
      this.link.workers.capacity(engine) - this.link.jobs.heldElsewhere(this.sweepId, engine),
    );
  }

  /**
   * Job fusion: the width the live workers of `engine` on `device` advertise in their heartbeats (the
   * least of them), or @unlearn/core's default for the engine while none is known; capped by the
   * coordinator's UNLEARN_BATCH_COLUMNS when set (0 or 1: no fusion).
   */
  batchColumns(engine: string, device: string): number {
    const advertised = this.link.workers.batchColumns(engine, device) ?? coreBatchColumns(engine, device);
    const cap = unlearnBatchColumns();
    return cap === undefined ? advertised : Math.min(advertised, cap);
  }

  /**
   * Runs a batch: a job stored meanwhile is reused, a job in flight for another sweep is joined, and
   * the rest are queued together as ONE JetStream message (a JobBatch; one job alone: a Job), each with
   * its own dispatch in the ledger. One promise per job, resolved as that job's result is stored.
   */
  run(batch: readonly DispatchRequest[]): Promise<DispatchOutput>[] {
    const resolvers: ((out: DispatchOutput) => void)[] = [];
    const promises = batch.map((_, i) => new Promise<DispatchOutput>((r) => (resolvers[i] = r)));
    const settled = new Set<number>();
    const resolve = (i: number, out: DispatchOutput) => {
      if (settled.has(i)) return;
      settled.add(i);
      resolvers[i]!(out);
    };
    void this.start(batch, resolve).catch((error) => {
      for (const [i, { job }] of batch.entries())
        if (!this.mine.has(job.id)) resolve(i, { result: failedResult(job, (error as Error).message) });
    });
    return promises;
  }

  private async start(
    batch: readonly DispatchRequest[],
    resolve: (i: number, out: DispatchOutput) => void,
  ): Promise<void> {
    const queue: { request: DispatchRequest; entry: InFlightJob }[] = [];
    for (const [i, request] of batch.entries()) {
      const { job } = request;
      const cancelled = () => resolve(i, { result: failedResult(job, "cancelled") });
      if (this.closed) {
        cancelled();
        continue;
      }
      if (!this.link.jobs.get(job.id)) {
        const stored = await this.stored(job).catch(() => undefined);
        if (stored) {
          this.link.log(`job ${job.id.slice(0, 12)} of sweep ${this.sweepId}: stored meanwhile, reused`);
          resolve(i, stored);
          continue;
        }
        if (this.closed) {
          cancelled();
          continue;
        }
      }
      const { entry, first } = this.wait(request, (out) => resolve(i, out));
      if (first) queue.push({ request, entry });
      else this.link.log(`job ${job.id.slice(0, 12)} of sweep ${this.sweepId} joins its run in flight`);
    }
    if (queue.length > 0) await this.publish(queue);
  }

  /**
   * A job another sweep finished since this one was planned (sweeps sharing jobs reach them in their
   * own orders): its stored result and chains, so it does not run twice. Undefined when not stored.
   */
  private async stored(job: Job): Promise<DispatchOutput | undefined> {
    const { store } = this.link;
    const result = await store.getResult(job.id);
    if (!result) return undefined;
    const bytes = await store.getArtifact(result.artifactKey || job.id);
    let W = bytes ? new Float32Array(bytes.slice().buffer) : (await getChains(this.link.objects, job.id))?.W;
    // A leaf's chains are kept nowhere (Store.wantsChains): no job starts from them, so the scheduler
    // holds none, and a reused output is not committed again; an empty array stands for them.
    if (!W && !(await store.wantsChains(job.id))) W = new Float32Array(0);
    // Chains that are needed but gone, or not of this dataset's shape: run the job instead.
    if (!W || W.length % this.d !== 0) return undefined;
    const out: DispatchOutput = { result, artifact: { W, shape: [this.d, W.length / this.d] } };
    this.reused.add(out);
    return out;
  }

  /** Joins the job's dispatch in flight, or registers it (`first`: the caller queues it). */
  private wait(
    request: DispatchRequest,
    resolve: (out: DispatchOutput) => void,
  ): { entry: InFlightJob; first: boolean } {
    const { job } = request;
    this.mine.add(job.id);
    return this.link.jobs.join(job, {
      sweepId: this.sweepId,
      onProgress: request.onProgress,
      resolve: (out) => {
        this.mine.delete(job.id);
        resolve(out);
        // A slot came free: other sweeps may start a job in it.
        this.link.workers.notify();
      },
    });
  }

  /**
   * The intake stored (then acked) what workers sent, and a reused output is stored already; what is
   * left is a failure made here.
   */
  async commit(output: DispatchOutput, store: Store): Promise<void> {
    if (!this.link.intake.isCommitted(output) && !this.reused.has(output)) await commitOutput(store, output);
  }

  /**
   * Uploads the parents' chains the object store lacks, then queues the jobs (several: one JobBatch
   * message), retrying while NATS is away, for as long as some sweep waits for one of them.
   */
  private async publish(items: { request: DispatchRequest; entry: InFlightJob }[]): Promise<void> {
    const wanted = (e: InFlightJob) => this.link.jobs.get(e.job.id) === e;
    for (let attempt = 1; items.some((i) => wanted(i.entry)); attempt++) {
      try {
        const ready: typeof items = [];
        for (const item of items) {
          if (!wanted(item.entry)) continue;
          const { job } = item.request;
          const parentId = job.spec?.parentId;
          // A dropped object's info is still there, marked deleted (sweeps.ts drops chains no sweep needs).
          const held = parentId ? await this.link.objects.info(parentId) : null;
          if (parentId && (!held || held.deleted)) {
            const W = await item.request.parentChains?.();
            if (!W) {
              const error = `the chains of parent ${parentId} are stored nowhere`;
              this.link.jobs.settle(job.id, { result: failedResult(job, error) });
              continue;
            }
            await putChains(this.link.objects, parentId, { W, shape: [this.d, W.length / this.d] });
          }
          ready.push(item);
        }
        items = ready;
        if (items.length === 0) return;
        const [first] = items;
        const subject = jobSubject(first!.request.job.engine, this.sweepId);
        // One dispatch per job, with a nonce, kept in the ledger: a restarted coordinator finds it
        // under way (queued, running or answered) instead of queueing the job twice. Several jobs
        // travel as one JobBatch message, each still with its own dispatch.
        const dispatches =
          items.length === 1
            ? [
                await this.link.ledger.dispatch(
                  first!.request.job,
                  subject,
                  Job.encode(first!.request.job).finish(),
                ),
              ]
            : await this.link.ledger.dispatchBatch(
                items.map((i) => i.request.job),
                subject,
              );
        if (items.length > 1)
          this.link.log(
            `jobs ${items.map((i) => i.request.job.id.slice(0, 12)).join(", ")} of sweep ${this.sweepId} queued as one batch`,
          );
        for (const [k, { entry }] of items.entries()) {
          entry.seq = dispatches[k]!.seq;
          entry.nonce = dispatches[k]!.nonce;
          // Withdrawn while it was being queued: take it back out.
          if (!wanted(entry)) await withdraw(this.link, entry);
          else this.options.onQueued?.(entry.job);
        }
        return;
      } catch (error) {
        if (attempt === 1 || attempt % 30 === 0)
          this.link.log(
            `job(s) ${items.map((i) => i.request.job.id.slice(0, 12)).join(", ")} not queued yet (attempt ${attempt}): ${(error as Error).message}`,
          );
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** This sweep stops waiting: its jobs resolve "cancelled"; a job no other sweep waits for is withdrawn. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unlisten();
    for (const id of [...this.mine]) {
      const entry = this.link.jobs.get(id);
      if (!entry) continue;
      const orphan = this.link.jobs.leave(this.sweepId, id, { result: failedResult(entry.job, "cancelled") });
      if (orphan) await withdraw(this.link, orphan);
    }
  }
}

/**
 * Takes a job nobody waits for out of the cluster: its queued message is deleted, so no worker starts
 * it, and a worker running it stops between steps (the ledger's cancel); nothing of it is stored.
 */
async function withdraw(link: ClusterLink, entry: InFlightJob): Promise<void> {
  if (entry.seq === undefined) return;
  // Its queued message goes; a worker running it is told to stop between steps (ledger.ts).
  await link.ledger
    .withdraw(entry.job.id)
    .catch((error) => link.log(`withdrawing job ${entry.job.id.slice(0, 12)}: ${(error as Error).message}`));
}
