/**
 * The scheduler: runs a planned sweep's pending jobs through a Dispatcher (worker threads or NATS) and
 * is the single writer of their outcomes. It owns everything above the transport:
 *   - DAG order: a job becomes ready when its parent's result is stored;
 *   - priority: of the ready jobs, the one heading the longest remaining path starts first, and at most
 *     `dispatcher.capacity` batches are in flight, so this choice (not a transport's FIFO) decides;
 *   - job fusion: a batch is the highest-priority ready job plus further ready jobs with the same
 *     dataset, engine and device, in priority order, up to dispatcher.batchColumns(engine, device)
 *     columns (scheduler-dag.ts's packBatch); each job keeps its own lifecycle (state, progress, result,
 *     events); a job that fails in a batch of several is queued again once, to run alone, and only
 *     that alone result counts;
 *   - failure propagation: a failed job's pending descendants are marked failed without running;
 *   - parent chains: a finished job's chains stay in memory until all its pending children have run,
 *     so N children of one parent cost at most one database read (the commit stores a job's chains
 *     only when a job starts from them, or the sweep keeps them: Store.wantsChains); `onChainsFreed`
 *     says when this sweep no longer needs a job's chains (the cluster then drops them from its bucket);
 *   - stopping: an abort or a store error stops starting jobs, abandons running ones (dispatcher.close),
 *     and leaves every job it did not finish pending, so a rerun completes the sweep;
 *   - progress events (scheduler-progress.ts).
 * Writes are serialised (one at a time, in arrival order) and all awaited before run() returns.
 */
import type { Store } from "@unlearn/db";
import type { Job, JobProgress, JobResult } from "@unlearn/protocol";
import type { Dispatcher, DispatchOutput } from "./dispatcher.ts";
import { failureOf, isSuccess } from "./job-result.ts";
import type { SweepPlan } from "./planner.ts";
import { childrenOf, fusionKey, jobColumns, ReadyQueue, remainingPaths } from "./scheduler-dag.ts";
import { ProgressTracker, type SweepProgress } from "./scheduler-progress.ts";

export type RunEvent =
  | {
      type: "planned";
      sweepId: string;
      jobs: number;
      reused: number;
      toRun: number;
      workers: number;
      threads: number;
      warnings: string[];
    }
  | { type: "progress"; progress: SweepProgress }
  | { type: "started"; job: Job; name: string }
  | { type: "result"; job: Job; result: JobResult; name?: string }
  | { type: "skipped"; job: Job; reason: string; name?: string };

export interface SchedulerOptions {
  plan: SweepPlan;
  store: Store;
  dispatcher: Dispatcher;
  /** the dataset's classes (the planner's facts): a job's columns are chains × classes when > 2 */
  classes?: number;
  /** the jobs to run; the plan's other jobs have stored results */
  todo: ReadonlySet<string>;
  /** display names by job id (jobNames) */
  names: ReadonlyMap<string, string>;
  reused: number;
  signal?: AbortSignal;
  onEvent?(event: RunEvent): void;
  /** step-progress events at most this often (ms); starts and ends are always reported */
  progressEveryMs?: number;
  /**
   * Called once per finished job when no pending job of this plan starts from its chains any more:
   * right after a leaf's result is stored, after the last child of a parent ends.
   */
  onChainsFreed?(jobId: string): void;
}

export interface SchedulerOutcome {
  ran: number;
  /** jobs that failed, or were not run because a job they start from failed */
  failed: number;
  /** stopped by the abort signal */
  cancelled: boolean;
  /** the store error that stopped the run */
  error?: string;
  /** jobs left pending (not run, or abandoned while running) */
  notRun: number;
  /** jobs marked running in the store whose run was abandoned: to be set back to pending */
  abandoned: string[];
}

/** Serialises async work: the store sees one write at a time, in arrival order. */
function serial() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const next = tail.then(fn);
    tail = next.catch(() => {});
    return next;
  };
}

const short = (id: string) => id.slice(0, 12);

export class Scheduler {
  private readonly serialWrite = serial();
  /**
   * A serialised store write; one that fails stops the run before the next queued write starts (those
   * check `stopped`: a batch's results arrive together, and none is committed after a store error).
   */
  private readonly write = <T>(fn: () => Promise<T>): Promise<T> =>
    this.serialWrite(async () => {
      try {
        return await fn();
      } catch (error) {
        this.stop({ cancelled: false, error: storeError(error) });
        throw error;
      }
    });
  private readonly todo: Set<string>;
  private readonly children: Map<string, Job[]>;
  private readonly ready: ReadyQueue;
  private readonly tracker: ProgressTracker;
  /**
   * Batches in flight. Each is its own entry: a job that failed in a batch may be retried alone while
   * that batch's other jobs are still running, so no job id can key a batch.
   */
  private readonly inFlight = new Set<Promise<void>>();
  /** jobs to run alone: they failed in a batch of several and get one unfused retry */
  private readonly alone = new Set<string>();
  /** jobs marked running in the store and not finished */
  private readonly touched = new Set<string>();
  /** chains of parents, by parent id, while pending children may still ask for them */
  private readonly chains = new Map<string, Promise<Float32Array | undefined>>();
  /** per parent: its pending children whose dispatch has not ended */
  private readonly need = new Map<string, number>();
  private stopped: { cancelled: boolean; error?: string } | null = null;
  private ran = 0;
  private failed = 0;
  private lastProgress = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: SchedulerOptions) {
    const { plan, todo } = options;
    this.todo = new Set(todo);
    this.children = childrenOf(plan.jobs);
    const classes = options.classes ?? 2;
    this.ready = new ReadyQueue(plan.jobs, remainingPaths(plan.jobs, this.todo), {
      key: fusionKey,
      columns: (job) => jobColumns(job, classes),
      width: (job) => options.dispatcher.batchColumns(job.engine, job.device),
    });
    this.tracker = new ProgressTracker(plan.sweepId, plan.jobs, this.todo, options.names, options.reused);
    for (const job of plan.jobs) {
      if (!this.todo.has(job.id)) continue;
      const parent = job.spec!.parentId;
      if (parent) this.need.set(parent, (this.need.get(parent) ?? 0) + 1);
      if (!parent || !this.todo.has(parent)) this.ready.push(job);
    }
  }

  async run(): Promise<SchedulerOutcome> {
    const { signal, dispatcher } = this.options;
    const onAbort = () => this.stop({ cancelled: true });
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    const previous = dispatcher.onCapacityChange;
    dispatcher.onCapacityChange = () => {
      previous?.();
      this.fill();
    };
    try {
      this.fill();
      while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      dispatcher.onCapacityChange = previous;
    }
    return {
      ran: this.ran,
      failed: this.failed,
      cancelled: this.stopped?.cancelled ?? false,
      error: this.stopped?.error,
      notRun: this.todo.size,
      abandoned: [...this.touched],
    };
  }

  /** Stops starting jobs and abandons running ones; what finished stays stored. */
  private stop(reason: { cancelled: boolean; error?: string }): void {
    if (this.stopped) return;
    this.stopped = reason;
    this.ready.drain();
    void this.options.dispatcher.close().catch(() => {});
  }

  /** Starts ready batches, highest priority first, while the dispatcher has room. */
  private fill(): void {
    const capacity = Math.max(1, this.options.dispatcher.capacity);
    while (!this.stopped && this.inFlight.size < capacity && this.ready.size > 0)
      this.start(this.ready.popBatch(this.alone));
  }

  private start(batch: Job[]): void {
    for (const job of batch) {
      this.tracker.started(job);
      // Progress first, so that a display printing the start (or the result) has the counts after it.
      this.emitProgress(true);
      this.options.onEvent?.({ type: "started", job, name: this.nameOf(job) });
    }
    const task: Promise<void> = this.execute(batch)
      .catch((error: unknown) => this.stop({ cancelled: false, error: storeError(error) }))
      .finally(() => {
        this.inFlight.delete(task);
        this.fill();
      });
    this.inFlight.add(task);
  }

  private async execute(batch: Job[]): Promise<void> {
    for (const job of batch) {
      this.touched.add(job.id);
      await this.write(() => this.options.store.setJobState(job.id, "running"));
    }
    const outs: (Promise<DispatchOutput> | undefined)[] = this.stopped
      ? batch.map(() => undefined)
      : this.options.dispatcher.run(
          batch.map((job) => ({
            job,
            parentChains: job.spec!.parentId ? () => this.chainsOf(job.spec!.parentId) : undefined,
            onProgress: (p: JobProgress) => {
              this.tracker.progress(p.jobId, p.stepsDone);
              this.emitProgress(false);
            },
          })),
        );
    // Each job ends on its own, as soon as its result is known; a store error in one stops the run
    // but the others are still awaited (their results are abandoned).
    const ended = await Promise.allSettled(
      batch.map(async (job, i) => {
        try {
          await this.finish(job, await outs[i], batch.length);
        } finally {
          this.childEnded(job);
        }
      }),
    );
    for (const e of ended) if (e.status === "rejected") throw e.reason;
  }

  private async finish(job: Job, out: DispatchOutput | undefined, mates: number): Promise<void> {
    if (!out || this.stopped) {
      // Abandoned: its result (if any) is not wanted; the job stays pending for a rerun.
      this.tracker.abandoned(job.id);
      return;
    }
    if (!isSuccess(out) && mates > 1 && !this.alone.has(job.id)) {
      // Failed in a batch of several: retried once alone; this result is not kept (nor committed).
      this.alone.add(job.id);
      this.tracker.abandoned(job.id);
      // Its dispatch ends below (childEnded) and starts again: its parent's chains stay held.
      const parent = job.spec!.parentId;
      if (parent) this.need.set(parent, (this.need.get(parent) ?? 0) + 1);
      this.ready.push(job);
      await this.write(() =>
        this.options.store.appendEvent({
          sweepId: this.options.plan.sweepId,
          jobId: job.id,
          type: "retry",
          payload: { error: failureOf(out), fusedWith: mates - 1, alone: true },
        }),
      );
      return;
    }
    const kept = isSuccess(out) ? await this.succeeded(job, out) : await this.failedJob(job, out);
    if (!kept) {
      // The run stopped while its commit waited behind other writes: abandoned, left pending.
      this.tracker.abandoned(job.id);
      return;
    }
    this.emitProgress(true);
    this.options.onEvent?.({ type: "result", job, result: out.result, name: this.nameOf(job) });
  }

  /** Commits a success; false when the run stopped before its turn to write came (nothing written). */
  private async succeeded(job: Job, out: DispatchOutput): Promise<boolean> {
    const { store, dispatcher } = this.options;
    const { result } = out;
    const W = out.artifact!.W;
    let kept = false;
    await this.write(async () => {
      if (this.stopped) return;
      kept = true;
      // The dispatcher's commit step: stored (chains, then result), then released by the transport.
      await dispatcher.commit(out, store);
      await store.appendEvent({
        sweepId: this.options.plan.sweepId,
        jobId: job.id,
        type: "result",
        payload: { ok: true, wallMs: result.wallMs, msPerStep: result.msPerStep, worker: result.worker },
      });
    });
    if (!kept) return false;
    this.todo.delete(job.id);
    this.touched.delete(job.id);
    this.ran++;
    this.tracker.finished(job, true);
    // Children get the chains from memory, not back from the database.
    if ((this.need.get(job.id) ?? 0) > 0) this.chains.set(job.id, Promise.resolve(W));
    else this.options.onChainsFreed?.(job.id);
    for (const child of this.children.get(job.id) ?? []) if (this.todo.has(child.id)) this.ready.push(child);
    return true;
  }

  private async failedJob(job: Job, out: DispatchOutput): Promise<boolean> {
    const error = failureOf(out);
    let kept = false;
    await this.write(async () => {
      if (this.stopped) return;
      kept = true;
      await this.options.dispatcher.commit(out, this.options.store);
      await this.options.store.appendEvent({
        sweepId: this.options.plan.sweepId,
        jobId: job.id,
        type: "failed",
        payload: { error },
      });
    });
    if (!kept) return false;
    this.todo.delete(job.id);
    this.touched.delete(job.id);
    this.failed++;
    this.tracker.finished(job, false);
    await this.skipSubtree(job, `parent ${short(job.id)} failed: ${error}`);
    return true;
  }

  /** Marks the pending descendants of a failed job failed, without running them. */
  private async skipSubtree(job: Job, reason: string): Promise<void> {
    for (const child of this.children.get(job.id) ?? []) {
      if (!this.todo.has(child.id)) continue;
      this.todo.delete(child.id);
      this.failed++;
      this.tracker.finished(child, false);
      this.childEnded(child);
      const why = `not run: ${reason}`;
      this.options.onEvent?.({ type: "skipped", job: child, reason: why, name: this.nameOf(child) });
      await this.write(() => this.options.store.setJobState(child.id, "failed", { error: why }));
      await this.skipSubtree(child, reason);
    }
  }

  /** The parent's chains: from memory when a sibling already has them, else one read shared by all. */
  private chainsOf(parentId: string): Promise<Float32Array | undefined> {
    let held = this.chains.get(parentId);
    if (!held) {
      held = this.readChains(parentId);
      this.chains.set(parentId, held);
    }
    return held;
  }

  private async readChains(parentId: string): Promise<Float32Array | undefined> {
    try {
      const bytes = await this.options.store.getArtifact(parentId);
      if (!bytes) return undefined;
      return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    } catch (error) {
      // A store that cannot be read stops the run; the dispatcher sees no chains and fails the job,
      // which is then abandoned rather than stored.
      this.stop({ cancelled: false, error: storeError(error) });
      return undefined;
    }
  }

  /** A child's dispatch ended (or it was skipped): its parent's chains go once no child needs them. */
  private childEnded(job: Job): void {
    const parent = job.spec!.parentId;
    if (!parent) return;
    const left = (this.need.get(parent) ?? 1) - 1;
    this.need.set(parent, left);
    if (left > 0) return;
    this.chains.delete(parent);
    this.options.onChainsFreed?.(parent);
  }

  private nameOf(job: Job): string {
    return this.options.names.get(job.id) ?? short(job.id);
  }

  private emitProgress(force: boolean): void {
    if (!this.options.onEvent) return;
    const now = performance.now();
    if (!force && now - this.lastProgress < (this.options.progressEveryMs ?? 500)) return;
    this.lastProgress = now;
    this.options.onEvent({ type: "progress", progress: this.tracker.snapshot() });
  }
}

function storeError(error: unknown): string {
  return `store error: ${error instanceof Error ? error.message : String(error)}`;
}
