/**
 * The cluster's Dispatcher (packages/sweep/src/dispatcher.ts): sends a sweep's jobs over JetStream and
 * resolves each with the result a worker published. One per sweep, over the coordinator's ClusterLink.
 */
import { JOBS_STREAM, jobSubject, putChains, sweepJobsFilter } from "@unlearn/cluster";
import { Job } from "@unlearn/protocol";
import type { Dispatcher, DispatchRequest, PoolOutput } from "@unlearn/sweep";
import { type ClusterLink, failed } from "./link.ts";

export class NatsDispatcher implements Dispatcher {
  onCapacityChange?: () => void;
  private readonly mine = new Set<string>();
  private closed = false;
  private readonly unlisten: () => void;

  /**
   * d: the dataset's dimension, the first axis of every chains array of this sweep. generation: which
   * submission of the sweep this is (a restart resumes the same one; a resubmission after a cancel is a
   * new one), part of each job's message id so that JetStream's dedup drops a restarted coordinator's
   * republication but not a resubmission's.
   */
  constructor(
    private readonly link: ClusterLink,
    readonly sweepId: string,
    private readonly d: number,
    private readonly options: { generation?: number; onQueued?: (job: Job) => void } = {},
  ) {
    this.unlisten = link.onCapacity(() => this.onCapacityChange?.());
  }

  /**
   * The live workers' slots less those other sweeps hold (at least 1): concurrent sweeps share the
   * cluster instead of each queueing a full cluster's worth, so every scheduler's longest-path-first
   * choice still decides what runs next.
   */
  get capacity(): number {
    return Math.max(1, this.link.capacity() - this.link.inFlightElsewhere(this.sweepId));
  }

  run(request: DispatchRequest): Promise<PoolOutput> {
    const { job } = request;
    if (this.closed) return Promise.resolve({ result: failed(job.id, job.engine, "cancelled") });
    const early = this.link.takeEarly(job.id);
    if (early) return this.link.complete(early);
    return new Promise<PoolOutput>((resolve) => {
      this.mine.add(job.id);
      this.link.pending.set(job.id, {
        sweepId: this.sweepId,
        onProgress: request.onProgress,
        resolve: (out) => {
          this.mine.delete(job.id);
          resolve(out);
          // A slot came free: other sweeps may start a job in it.
          this.link.notifyCapacity();
        },
      });
      void this.publish(request);
    });
  }

  /** Uploads the parent's chains when the object store lacks them, then queues the job (retrying while NATS is away). */
  private async publish(request: DispatchRequest): Promise<void> {
    const { job } = request;
    for (let attempt = 1; !this.closed && this.link.pending.has(job.id); attempt++) {
      try {
        const parentId = job.spec?.parentId;
        if (parentId && !(await this.link.objects.info(parentId))) {
          const W = await request.parentChains?.();
          if (!W) throw new Error(`the chains of parent ${parentId} are stored nowhere`);
          await putChains(this.link.objects, parentId, { W, shape: [this.d, W.length / this.d] });
        }
        // The message id makes a republication by a restarted coordinator a no-op within the dedup window.
        await this.link.js.publish(jobSubject(job.engine, this.sweepId), Job.encode(job).finish(), {
          msgID: `${job.id}:${job.attempt}:${this.options.generation ?? 1}`,
        });
        this.options.onQueued?.(job);
        return;
      } catch (error) {
        const message = (error as Error).message;
        if (/stored nowhere/.test(message)) {
          const pending = this.link.pending.get(job.id);
          this.link.pending.delete(job.id);
          pending?.resolve({ result: failed(job.id, job.engine, message) });
          return;
        }
        if (attempt === 1 || attempt % 30 === 0)
          this.link.log(`job ${job.id.slice(0, 12)} not queued yet (attempt ${attempt}): ${message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unlisten();
    for (const id of [...this.mine]) {
      const pending = this.link.pending.get(id);
      this.link.pending.delete(id);
      pending?.resolve({ result: failed(id, "", "cancelled") });
    }
    // Jobs of this sweep still queued are not wanted any more.
    await this.link.jsm.streams.purge(JOBS_STREAM, { filter: sweepJobsFilter(this.sweepId) }).catch(() => {});
  }
}
