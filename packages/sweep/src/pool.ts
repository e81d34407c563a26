/**
 * The embedded mode's workers: node:worker_threads running ./worker.ts. What crosses the thread
 * boundary is what NATS carries in distributed mode: encoded protobuf `Job`, `JobProgress` and
 * `JobResult` messages, plus the chains as raw float32 bytes (transferred, not copied). A worker runs a
 * batch of jobs (job fusion) at a time, fused in one column batch (executeJobs), and posts one result
 * per job.
 *
 * A worker that dies (uncaught error, out of memory, process.exit) fails only its current batch: the
 * batch's jobs without a result are retried once together on a fresh worker, and a second crash
 * resolves them as failed results with the error (the scheduler then retries each alone).
 *
 * close() stops workers politely: it raises each worker's cancel flag (shared memory, read between
 * steps even while a synchronous engine keeps the worker's event loop busy), the running job aborts at
 * its next progress point, the worker releases its engines and exits on its own. Terminating a worker
 * while onnxruntime has a session.run in flight aborts the whole process natively ("terminate called
 * after throwing an instance of 'Napi::Error'", exit 134), so terminate() is only the last resort for a
 * worker that did not exit within STOP_GRACE_MS.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Store } from "@unlearn/db";
import { Job, JobProgress, JobResult } from "@unlearn/protocol";
import { resolveBatchColumns } from "./batch-columns.ts";
import type { Dispatcher, DispatchOutput, DispatchRequest } from "./dispatcher.ts";
import { commitOutput, failedResult } from "./job-result.ts";

export interface WorkerData {
  /** engine threads of this worker */
  threads: number;
  /** prefix of JobResult.worker */
  name: string;
  /** the TypeScript module the boot script imports */
  entry: string;
  /** Int32Array[1] over shared memory: set to 1 when the pool closes (the running job aborts) */
  cancel: SharedArrayBuffer;
}
/** A batch: encoded jobs, and each job's parent chains (its own copy) or undefined, in the same order. */
export type ToWorker =
  | { type: "jobs"; jobs: Uint8Array[]; parents: (ArrayBuffer | undefined)[] }
  | { type: "stop" };
export type FromWorker =
  | { type: "ready" }
  | { type: "progress"; bytes: Uint8Array }
  /** one job's result (its JobResult names the job); a batch gets one per job */
  | { type: "result"; bytes: Uint8Array; artifact?: ArrayBuffer; shape?: [number, number] };

export interface PoolOptions {
  /** number of worker threads (default: defaultWorkers()) */
  workers?: number;
  /** engine threads per worker (default: threadsPerWorker(workers)) */
  threads?: number;
  onProgress?(progress: JobProgress): void;
  /** The worker module (tests substitute one that crashes). */
  entry?: URL;
  name?: string;
}

/**
 * Workers by default: one per two cores. The engines' kernels are multi-threaded, and on 2 cores one
 * worker with 2 threads ran MNIST-sized jobs faster than two workers with one thread each (measured,
 * see the package README); on more cores several workers also overlap the per-job overheads.
 */
export function defaultWorkers(cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / 2));
}

/** Engine threads per worker so that all workers together use the cores once. */
export function threadsPerWorker(workers: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / workers));
}

/** How long close() waits for a worker to abort its job and exit before terminating it. */
const STOP_GRACE_MS = 20_000;
const BOOT = new URL("./worker-boot.mjs", import.meta.url);
const WORKER = new URL("./worker.ts", import.meta.url);

/** One job of a batch: the chains it starts from and its resolver. */
export interface PoolItem {
  job: Job;
  parent?: Float32Array;
}

interface Task {
  /** the batch's jobs still without a result */
  items: (PoolItem & { resolve(out: DispatchOutput): void })[];
  crashes: number;
}

interface Slot {
  worker: Worker;
  cancel: Int32Array;
  exited: Promise<void>;
  task: Task | null;
  /** set when the pool terminates it, so its exit is not treated as a crash */
  retired: boolean;
}

export class WorkerPool {
  readonly size: number;
  readonly threads: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: PoolOptions = {}) {
    this.size = options.workers ?? defaultWorkers();
    if (!Number.isInteger(this.size) || this.size < 1)
      throw new RangeError(`workers must be an integer ≥ 1, got ${options.workers}`);
    this.threads = options.threads ?? threadsPerWorker(this.size);
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn());
  }

  /** Jobs waiting for a worker plus jobs running. */
  get pending(): number {
    return this.queue.length + this.slots.filter((s) => s.task).length;
  }

  /** Runs a job; `parent` is the chains it starts from. Resolves (never rejects) with its result. */
  run(job: Job, parent?: Float32Array): Promise<DispatchOutput> {
    return this.runBatch([{ job, parent }])[0]!;
  }

  /**
   * Runs a batch of jobs on one worker thread, fused (executeJobs): one promise per job, in order, each
   * resolving (never rejecting) with that job's result.
   */
  runBatch(batch: readonly PoolItem[]): Promise<DispatchOutput>[] {
    if (this.closed) return batch.map(({ job }) => Promise.resolve(failed(job, "the worker pool is closed")));
    const task: Task = { items: [], crashes: 0 };
    const outs = batch.map(
      (item) => new Promise<DispatchOutput>((resolve) => task.items.push({ ...item, resolve })),
    );
    if (task.items.length > 0) {
      this.queue.push(task);
      this.dispatch();
    }
    return outs;
  }

  /**
   * Stops every worker; jobs still queued or running resolve as failed ("cancelled") at once, and the
   * returned promise waits until the workers have exited.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      for (const task of this.queue.splice(0)) cancelTask(task);
      this.closing = Promise.all(this.slots.map((slot) => this.stopSlot(slot))).then(() => {});
    }
    return this.closing;
  }

  private async stopSlot(slot: Slot): Promise<void> {
    slot.retired = true;
    const task = slot.task;
    slot.task = null;
    if (task) cancelTask(task);
    Atomics.store(slot.cancel, 0, 1);
    slot.worker.postMessage({ type: "stop" } satisfies ToWorker);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), STOP_GRACE_MS);
    });
    const how = await Promise.race([slot.exited.then(() => "exited" as const), late]);
    clearTimeout(timer);
    if (how === "late") await slot.worker.terminate();
  }

  private spawn(): Slot {
    const cancel = new SharedArrayBuffer(4);
    const data: WorkerData = {
      threads: this.threads,
      name: this.options.name ?? "local",
      entry: (this.options.entry ?? WORKER).href,
      cancel,
    };
    // Workers stay referenced: they keep the process alive while jobs run, so callers must close() the pool.
    const worker = new Worker(BOOT, { workerData: data });
    let exit!: () => void;
    const exited = new Promise<void>((resolve) => {
      exit = resolve;
    });
    const slot: Slot = { worker, cancel: new Int32Array(cancel), exited, task: null, retired: false };
    let crash: Error | undefined;
    worker.on("message", (message: FromWorker) => this.onMessage(slot, message));
    worker.on("error", (error) => {
      crash = error;
    });
    worker.on("exit", (code) => {
      exit();
      this.onExit(slot, code, crash);
    });
    return slot;
  }

  private onMessage(slot: Slot, message: FromWorker): void {
    if (message.type === "progress") {
      this.options.onProgress?.(JobProgress.decode(message.bytes));
      return;
    }
    if (message.type !== "result") return;
    const task = slot.task;
    if (!task) return;
    const result = JobResult.decode(message.bytes);
    const i = task.items.findIndex((item) => item.job.id === result.jobId);
    if (i >= 0) {
      const [item] = task.items.splice(i, 1);
      const artifact =
        message.artifact && message.shape
          ? { W: new Float32Array(message.artifact), shape: message.shape }
          : undefined;
      item!.resolve({ result, artifact });
    }
    if (task.items.length > 0) return;
    slot.task = null;
    this.dispatch();
  }

  private onExit(slot: Slot, code: number, crash: Error | undefined): void {
    if (slot.retired || this.closed) return;
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots[index] = this.spawn();
    const task = slot.task;
    slot.task = null;
    if (task && task.items.length > 0) {
      const reason = `worker crashed (exit code ${code})${crash ? `: ${crash.message}` : ""}`;
      task.crashes++;
      if (task.crashes <= 1) {
        for (const item of task.items) item.job = { ...item.job, attempt: item.job.attempt + 1 };
        this.queue.unshift(task);
      } else
        for (const item of task.items)
          item.resolve(failed(item.job, `${reason}; it crashed ${task.crashes} times`));
    }
    this.dispatch();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.task || slot.retired) continue;
      const task = this.queue.shift()!;
      slot.task = task;
      // Each job gets its own copy of the parent's chains: several children may share one parent.
      const parents = task.items.map((item) => (item.parent ? item.parent.slice().buffer : undefined));
      const message: ToWorker = {
        type: "jobs",
        jobs: task.items.map((item) => Job.encode(item.job).finish()),
        parents,
      };
      slot.worker.postMessage(
        message,
        parents.filter((p) => p !== undefined),
      );
    }
  }
}

function failed(job: Job, error: string): DispatchOutput {
  return { result: failedResult(job, error) };
}

function cancelTask(task: Task): void {
  for (const item of task.items.splice(0)) item.resolve(failed(item.job, "cancelled"));
}

export interface ThreadDispatcherOptions extends Omit<PoolOptions, "onProgress"> {
  /**
   * Job fusion's width in columns of W for every engine (0 or 1: no fusion). Default: the environment
   * variable UNLEARN_BATCH_COLUMNS when set, else each engine's own (@unlearn/core's batchColumns).
   */
  batchColumns?: number;
}

/**
 * The embedded mode's Dispatcher: a batch runs on one thread of a WorkerPool, fused; parent chains are
 * read (from the scheduler's memory or the store) before the batch is posted, and progress is routed
 * to each job's own callback.
 */
export class ThreadDispatcher implements Dispatcher {
  onCapacityChange?: () => void;
  private readonly pool: WorkerPool;
  private readonly listeners = new Map<string, (p: JobProgress) => void>();
  private readonly width: number | undefined;

  constructor(options: ThreadDispatcherOptions = {}) {
    const { batchColumns, ...pool } = options;
    // Validated now (an invalid UNLEARN_BATCH_COLUMNS stops the run before any job starts).
    resolveBatchColumns("reference", "cpu", batchColumns);
    this.width = batchColumns;
    this.pool = new WorkerPool({ ...pool, onProgress: (p) => this.listeners.get(p.jobId)?.(p) });
  }

  get capacity(): number {
    return this.pool.size;
  }

  get threads(): number {
    return this.pool.threads;
  }

  batchColumns(engine: string, device: string): number {
    return resolveBatchColumns(engine, device, this.width);
  }

  run(batch: readonly DispatchRequest[]): Promise<DispatchOutput>[] {
    const started = this.start(batch);
    return batch.map((_, i) => started.then((outs) => outs[i]!));
  }

  private async start(batch: readonly DispatchRequest[]): Promise<Promise<DispatchOutput>[]> {
    const outs: Promise<DispatchOutput>[] = [];
    const runnable: { at: number; item: PoolItem }[] = [];
    for (const [at, { job, parentChains }] of batch.entries()) {
      try {
        runnable.push({ at, item: { job, parent: await parentChains?.() } });
      } catch (error) {
        outs[at] = Promise.resolve(
          failed(
            job,
            `the chains of parent ${job.spec?.parentId} could not be read: ${(error as Error).message}`,
          ),
        );
      }
    }
    for (const { at } of runnable) {
      const { job, onProgress } = batch[at]!;
      if (onProgress) this.listeners.set(job.id, onProgress);
    }
    const running = this.pool.runBatch(runnable.map((r) => r.item));
    for (const [k, { at, item }] of runnable.entries())
      outs[at] = running[k]!.finally(() => this.listeners.delete(item.job.id));
    return outs;
  }

  /** Nothing to release: a thread's result is in memory only, so storing it is the whole commit. */
  commit(output: DispatchOutput, store: Store): Promise<void> {
    return commitOutput(store, output);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
