/**
 * The cluster's Dispatcher (packages/sweep/src/dispatcher.ts): one per sweep, over the coordinator's
 * ClusterLink. A job is sent over JetStream once, by the first sweep that runs it; a sweep that runs a
 * job already in flight waits for the same result (registry.ts). Results are committed (stored, then
 * acked) by the link's intake as they arrive, so commit() has left only the failures made here.
 */
import { getChains, jobSubject, putChains } from "@unlearn/cluster";
import type { Store } from "@unlearn/db";
import { Job } from "@unlearn/protocol";
import {
  commitOutput,
  type Dispatcher,
  type DispatchOutput,
  type DispatchRequest,
  failedResult,
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

  async run(request: DispatchRequest): Promise<DispatchOutput> {
    const { job } = request;
    const cancelled = () => ({ result: failedResult(job, "cancelled") });
    if (this.closed) return cancelled();
    if (!this.link.jobs.get(job.id)) {
      const stored = await this.stored(job).catch(() => undefined);
      if (stored) {
        this.link.log(`job ${job.id.slice(0, 12)} of sweep ${this.sweepId}: stored meanwhile, reused`);
        return stored;
      }
      if (this.closed) return cancelled();
    }
    return this.wait(request);
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

  /** Joins the job's dispatch in flight, or dispatches it: resolves when its result arrives. */
  private wait(request: DispatchRequest): Promise<DispatchOutput> {
    const { job } = request;
    return new Promise<DispatchOutput>((resolve) => {
      this.mine.add(job.id);
      const { entry, first } = this.link.jobs.join(job, {
        sweepId: this.sweepId,
        onProgress: request.onProgress,
        resolve: (out) => {
          this.mine.delete(job.id);
          resolve(out);
          // A slot came free: other sweeps may start a job in it.
          this.link.workers.notify();
        },
      });
      if (first) void this.publish(request, entry);
      else this.link.log(`job ${job.id.slice(0, 12)} of sweep ${this.sweepId} joins its run in flight`);
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
   * Uploads the parent's chains when the object store lacks them, then queues the job, retrying while
   * NATS is away, for as long as some sweep waits for this dispatch.
   */
  private async publish(request: DispatchRequest, entry: InFlightJob): Promise<void> {
    const { job } = request;
    const wanted = () => this.link.jobs.get(job.id) === entry;
    for (let attempt = 1; wanted(); attempt++) {
      try {
        const parentId = job.spec?.parentId;
        if (parentId && !(await this.link.objects.info(parentId))) {
          const W = await request.parentChains?.();
          if (!W) {
            const error = `the chains of parent ${parentId} are stored nowhere`;
            this.link.jobs.settle(job.id, { result: failedResult(job, error) });
            return;
          }
          await putChains(this.link.objects, parentId, { W, shape: [this.d, W.length / this.d] });
        }
        // One dispatch per job, with a nonce, kept in the ledger: a restarted coordinator finds it
        // under way (queued, running or answered) instead of queueing the job twice.
        const dispatch = await this.link.ledger.dispatch(
          job,
          jobSubject(job.engine, this.sweepId),
          Job.encode(job).finish(),
        );
        entry.seq = dispatch.seq;
        entry.nonce = dispatch.nonce;
        // Withdrawn while it was being queued: take it back out.
        if (!wanted()) await withdraw(this.link, entry);
        else this.options.onQueued?.(job);
        return;
      } catch (error) {
        if (attempt === 1 || attempt % 30 === 0)
          this.link.log(
            `job ${job.id.slice(0, 12)} not queued yet (attempt ${attempt}): ${(error as Error).message}`,
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
