/**
 * The embedded mode's workers: node:worker_threads running ./worker.ts. What crosses the thread
 * boundary is what NATS carries in distributed mode: encoded protobuf `Job`, `JobProgress` and
 * `JobResult` messages, plus the chains as raw float32 bytes (transferred, not copied).
 *
 * A worker that dies (uncaught error, out of memory, process.exit) fails only its current job: the job
 * is retried once on a fresh worker, and a second crash resolves it as a failed result with the error.
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
export type ToWorker = { type: "job"; job: Uint8Array; parent?: ArrayBuffer } | { type: "stop" };
export type FromWorker =
  | { type: "ready" }
  | { type: "progress"; bytes: Uint8Array }
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

interface Task {
  job: Job;
  parent?: Float32Array;
  crashes: number;
  resolve(out: DispatchOutput): void;
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
    if (this.closed) return Promise.resolve(failed(job, "the worker pool is closed"));
    return new Promise((resolve) => {
      this.queue.push({ job, parent, crashes: 0, resolve });
      this.dispatch();
    });
  }

  /**
   * Stops every worker; jobs still queued or running resolve as failed ("cancelled") at once, and the
   * returned promise waits until the workers have exited.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      for (const task of this.queue.splice(0)) task.resolve(failed(task.job, "cancelled"));
      this.closing = Promise.all(this.slots.map((slot) => this.stopSlot(slot))).then(() => {});
    }
    return this.closing;
  }

  private async stopSlot(slot: Slot): Promise<void> {
    slot.retired = true;
    const task = slot.task;
    slot.task = null;
    task?.resolve(failed(task.job, "cancelled"));
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
    slot.task = null;
    if (task) {
      const result = JobResult.decode(message.bytes);
      const artifact =
        message.artifact && message.shape
          ? { W: new Float32Array(message.artifact), shape: message.shape }
          : undefined;
      task.resolve({ result, artifact });
    }
    this.dispatch();
  }

  private onExit(slot: Slot, code: number, crash: Error | undefined): void {
    if (slot.retired || this.closed) return;
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots[index] = this.spawn();
    const task = slot.task;
    slot.task = null;
    if (task) {
      const reason = `worker crashed (exit code ${code})${crash ? `: ${crash.message}` : ""}`;
      task.crashes++;
      if (task.crashes <= 1) {
        task.job = { ...task.job, attempt: task.job.attempt + 1 };
        this.queue.unshift(task);
      } else task.resolve(failed(task.job, `${reason}; it crashed ${task.crashes} times`));
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
      const parent = task.parent ? task.parent.slice().buffer : undefined;
      const message: ToWorker = { type: "job", job: Job.encode(task.job).finish(), parent };
      slot.worker.postMessage(message, parent ? [parent] : []);
    }
  }
}

function failed(job: Job, error: string): DispatchOutput {
  return { result: failedResult(job, error) };
}

/**
 * The embedded mode's Dispatcher: jobs run on a WorkerPool of local threads, parent chains are read
 * (from the scheduler's memory or the store) before the job is posted, and progress is routed to the
 * job's own callback.
 */
export class ThreadDispatcher implements Dispatcher {
  onCapacityChange?: () => void;
  private readonly pool: WorkerPool;
  private readonly listeners = new Map<string, (p: JobProgress) => void>();

  constructor(options: Omit<PoolOptions, "onProgress"> = {}) {
    this.pool = new WorkerPool({ ...options, onProgress: (p) => this.listeners.get(p.jobId)?.(p) });
  }

  get capacity(): number {
    return this.pool.size;
  }

  get threads(): number {
    return this.pool.threads;
  }

  async run({ job, parentChains, onProgress }: DispatchRequest): Promise<DispatchOutput> {
    let parent: Float32Array | undefined;
    try {
      parent = await parentChains?.();
    } catch (error) {
      return failed(
        job,
        `the chains of parent ${job.spec?.parentId} could not be read: ${(error as Error).message}`,
      );
    }
    if (onProgress) this.listeners.set(job.id, onProgress);
    try {
      return await this.pool.run(job, parent);
    } finally {
      this.listeners.delete(job.id);
    }
  }

  /** Nothing to release: a thread's result is in memory only, so storing it is the whole commit. */
  commit(output: DispatchOutput, store: Store): Promise<void> {
    return commitOutput(store, output);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
