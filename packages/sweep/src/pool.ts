/**
 * The embedded mode's workers: node:worker_threads running ./worker.ts. What crosses the thread
 * boundary is what NATS carries in distributed mode: encoded protobuf `Job`, `JobProgress` and
 * `JobResult` messages, plus the chains as raw float32 bytes (transferred, not copied).
 *
 * A worker that dies (uncaught error, out of memory, process.exit) fails only its current job: the job
 * is retried once on a fresh worker, and a second crash resolves it as a failed result with the error.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { Job, JobProgress, JobResult } from "@unlearn/protocol";
import { failedResult } from "./job-result.ts";

export interface WorkerData {
  /** engine threads of this worker */
  threads: number;
  /** prefix of JobResult.worker */
  name: string;
  /** the TypeScript module the boot script imports */
  entry: string;
}
export type ToWorker = { type: "job"; job: Uint8Array; parent?: ArrayBuffer } | { type: "stop" };
export type FromWorker =
  | { type: "ready" }
  | { type: "progress"; bytes: Uint8Array }
  | { type: "result"; bytes: Uint8Array; artifact?: ArrayBuffer; shape?: [number, number] };

export interface PoolOutput {
  result: JobResult;
  artifact?: { W: Float32Array; shape: [number, number] };
}

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

const BOOT = new URL("./worker-boot.mjs", import.meta.url);
const WORKER = new URL("./worker.ts", import.meta.url);

interface Task {
  job: Job;
  parent?: Float32Array;
  crashes: number;
  resolve(out: PoolOutput): void;
}

interface Slot {
  worker: Worker;
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
  run(job: Job, parent?: Float32Array): Promise<PoolOutput> {
    if (this.closed) return Promise.resolve(failed(job, "the worker pool is closed"));
    return new Promise((resolve) => {
      this.queue.push({ job, parent, crashes: 0, resolve });
      this.dispatch();
    });
  }

  /** Stops every worker; jobs still queued or running resolve as failed ("cancelled"). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const task of this.queue.splice(0)) task.resolve(failed(task.job, "cancelled"));
    await Promise.all(
      this.slots.map(async (slot) => {
        slot.retired = true;
        const task = slot.task;
        slot.task = null;
        task?.resolve(failed(task.job, "cancelled"));
        // terminate() rather than a polite stop: a running job may take minutes; its result is not wanted.
        await slot.worker.terminate();
      }),
    );
  }

  private spawn(): Slot {
    const data: WorkerData = {
      threads: this.threads,
      name: this.options.name ?? "local",
      entry: (this.options.entry ?? WORKER).href,
    };
    // Workers stay referenced: they keep the process alive while jobs run, so callers must close() the pool.
    const worker = new Worker(BOOT, { workerData: data });
    const slot: Slot = { worker, task: null, retired: false };
    let crash: Error | undefined;
    worker.on("message", (message: FromWorker) => this.onMessage(slot, message));
    worker.on("error", (error) => {
      crash = error;
    });
    worker.on("exit", (code) => this.onExit(slot, code, crash));
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

function failed(job: Job, error: string): PoolOutput {
  return { result: failedResult(job, error) };
}
