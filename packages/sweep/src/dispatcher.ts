/**
 * The seam between the scheduler (scheduler.ts) and a transport. The scheduler (planner output → DAG
 * order, longest remaining path first, reuse, failure propagation, progress/ETA, the single writer of
 * the Store) is the same in the embedded and the cluster mode; only a Dispatcher differs:
 *   - worker threads (pool.ts's ThreadDispatcher) in the embedded mode;
 *   - NATS JetStream in the cluster mode (apps/coordinator), workers anywhere.
 * A Dispatcher sends a job, reports its progress, resolves with its result and final chains, and
 * commits that outcome (store, then release it from the transport).
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
   * How many jobs it runs at once now (worker threads; or the live NATS workers' concurrency, at least
   * 1). The scheduler keeps at most this many jobs in flight, so that it, not a FIFO queue, decides
   * which ready job runs next (longest remaining path first). It may change while a sweep runs.
   */
  readonly capacity: number;
  /** Called by the dispatcher when capacity may have grown (a worker joined). */
  onCapacityChange?: () => void;
  /**
   * Runs a job to its end. Resolves (never rejects) with its result and, when it succeeded, its
   * chains; a transport failure that retries could not mend resolves as a failed result.
   */
  run(request: DispatchRequest): Promise<DispatchOutput>;
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
