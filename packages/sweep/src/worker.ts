/**
 * A pool worker thread: decodes a batch of `Job` messages, runs them fused with executeJobs, and posts
 * back encoded `JobProgress` / `JobResult` messages (one result per job) and each job's final chains
 * (transferred, not copied).
 *
 * Stopping (pool.close): the pool raises the shared cancel flag, read at each progress point, which
 * aborts the running job between two steps; the "stop" message then releases the engines and closes
 * the port, so the thread exits with no native call in flight (see pool.ts for why that matters).
 */
import { parentPort, threadId, workerData } from "node:worker_threads";
import { Job, JobProgress, JobResult } from "@unlearn/protocol";
import { disposeEngines, executeJobs } from "./execute.ts";
import type { FromWorker, ToWorker, WorkerData } from "./pool.ts";

const port = parentPort;
if (!port) throw new Error("worker.ts must run in a worker thread (see pool.ts)");
const { threads, name, cancel } = workerData as WorkerData;
const cancelled = new Int32Array(cancel);
/** The job running now, if any: a "stop" waits for it to end. */
let running: Promise<unknown> | null = null;
const worker = `${name}#${threadId}`;
/** Progress is posted at most this often: a step can take under a millisecond. */
const PROGRESS_MS = 200;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

port.on("message", async (message: ToWorker) => {
  if (message.type === "stop") {
    await running?.catch(() => {});
    await disposeEngines();
    port.close();
    return;
  }
  const jobs = message.jobs.map((bytes) => Job.decode(bytes));
  const run = runJobs(jobs, message.parents);
  running = run;
  await run;
  if (running === run) running = null;
});

/** Runs a batch fused (executeJobs) and posts one result per job. */
async function runJobs(jobs: Job[], parents: (ArrayBuffer | undefined)[]): Promise<void> {
  const abort = new AbortController();
  if (Atomics.load(cancelled, 0) !== 0) abort.abort("the worker pool is closing");
  const lastProgress = jobs.map(() => 0);
  // The chains each job starts from, by parent id: each job has its own copy, handed out in order.
  const byParent = new Map<string, ArrayBuffer[]>();
  for (const [i, job] of jobs.entries()) {
    const parent = parents[i];
    const key = job.spec?.parentId;
    if (!parent || !key) continue;
    const list = byParent.get(key);
    if (list) list.push(parent);
    else byParent.set(key, [parent]);
  }
  const outputs = await executeJobs(jobs, {
    threads,
    worker,
    signal: abort.signal,
    loadArtifact: async (key) => {
      const parent = byParent.get(key)?.shift();
      return parent ? new Float32Array(parent) : null;
    },
    onJobProgress: (i, stepsDone, stepsTotal) => {
      if (Atomics.load(cancelled, 0) !== 0) abort.abort("the worker pool is closing");
      const now = performance.now();
      if (now - lastProgress[i]! < PROGRESS_MS && stepsDone < stepsTotal) return;
      lastProgress[i] = now;
      post({
        type: "progress",
        bytes: JobProgress.encode({ jobId: jobs[i]!.id, stepsDone, stepsTotal, worker }).finish(),
      });
    },
  });
  for (const { result, artifact } of outputs) {
    const bytes = JobResult.encode(result).finish();
    if (!artifact) {
      post({ type: "result", bytes });
      continue;
    }
    // Copy into a buffer of its own when W is a view into a larger one, so the transfer moves only W.
    const W =
      artifact.W.byteOffset === 0 && artifact.W.byteLength === artifact.W.buffer.byteLength
        ? artifact.W
        : artifact.W.slice();
    post({ type: "result", bytes, artifact: W.buffer as ArrayBuffer, shape: artifact.shape }, [
      W.buffer as ArrayBuffer,
    ]);
  }
}
post({ type: "ready" });
