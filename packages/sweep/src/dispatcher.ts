/**
 * The seam between the scheduler (scheduler.ts) and a transport. The scheduler (planner output → DAG
 * order, longest remaining path first, reuse, failure propagation, progress/ETA, the single writer of
 * the Store) is the same in the embedded and the cluster mode; only a Dispatcher differs:
 *   - worker threads (pool.ts's ThreadDispatcher) in the embedded mode;
 *   - NATS JetStream in the cluster mode (apps/coordinator), workers anywhere.
 * A Dispatcher sends a batch of jobs (job fusion: the scheduler packs ready jobs up to the width the
 * dispatcher advertises), reports their progress, resolves with each job's result and final chains,
 * and commits each outcome (store, then release it from the transport).
 */
import type { Store } from "@unlearn/db";
import type { Job, JobProgress, JobResult } from "@unlearn/protocol";

/** What a dispatched job ends with: its result and, when it succeeded, its final chains (d × chains). */
export interface DispatchOutput {
  result: JobResult;
  artifact?: { W: Float32Array; shape: [number, number] };
}

export interface DispatchRequest {
  job: Job;
  /**
   * The chains the job starts from (its parent's artifact), read on demand: the thread dispatcher
   * always calls it; the NATS dispatcher calls it only when the object store lacks the parent's
   * chains (say, after the store was purged) and uploads them. Undefined for a job without a parent.
   */
  parentChains?: () => Promise<Float32Array | undefined>;
  onProgress?(progress: JobProgress): void;
}

export interface Dispatcher {
  /**
   * How many batches it runs at once now (worker threads; or the live NATS workers' concurrency, at
   * least 1). The scheduler keeps at most this many batches in flight, so that it, not a FIFO queue,
   * decides which ready jobs run next (longest remaining path first). It may change while a sweep runs.
   */
  readonly capacity: number;
  /** Called by the dispatcher when capacity may have grown (a worker joined). */
  onCapacityChange?: () => void;
  /**
   * Job fusion: the widest column batch, in columns of W (chains × classes for multiclass, chains for
   * binary), that this dispatcher runs for jobs on `engine` / `device` (an engine's best width: a CPU
   * engine's measured, a GPU engine's large; see @unlearn/core's batchColumns). The scheduler packs
   * ready jobs with the same dataset, engine and device up to this width; a job wider than it runs
   * alone. 0 or 1: no fusion.
   */
  batchColumns(engine: string, device: string): number;
  /**
   * Runs a batch of jobs (one or more, packed by the scheduler: same dataset, engine and device) fused
   * into one column batch where the transport and engine can. Returns one promise per request, in the
   * order given; each resolves (never rejects) with that job's result and, when it succeeded, its
   * chains, as soon as that job's result is known. A transport failure that retries could not mend
   * resolves as a failed result. Each job is still stored, acked and content-addressed on its own.
   */
  run(batch: readonly DispatchRequest[]): Promise<DispatchOutput>[];
  /**
   * The commit step: makes an output of run() durable in `store` (commitOutput: the chains, then the
   * result) and only then lets the transport forget it (an ack), so that a crash between the two
   * brings the result back instead of losing it. The scheduler calls it once per output it keeps,
   * among its serialised writes; it rejects when the store does. A transport that commits results as
   * they arrive (the NATS dispatcher: results are keyed by job id, so storing early is always right)
   * has nothing left to do for those.
   */
  commit(output: DispatchOutput, store: Store): Promise<void>;
  /**
   * Abandons running jobs (they resolve as failed "cancelled") and releases the transport. The
   * scheduler calls it when a run stops early (abort, store error), then ignores those results;
   * it must be safe to call more than once.
   */
  close(): Promise<void>;
}
