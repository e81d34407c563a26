/**
 * A pool worker thread: decodes `Job` messages, runs them with executeJob, and posts back encoded
 * `JobProgress` / `JobResult` messages and the final chains (transferred, not copied).
 *
 * Stopping (pool.close): the pool raises the shared cancel flag, read at each progress point, which
 * aborts the running job between two steps; the "stop" message then releases the engines and closes
 * the port, so the thread exits with no native call in flight (see pool.ts for why that matters).
 */
import { parentPort, threadId, workerData } from "node:worker_threads";
import { Job, JobProgress, JobResult } from "@unlearn/protocol";
import { disposeEngines, executeJob } from "./execute.ts";
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
  const job = Job.decode(message.job);
  const run = runJob(job, message.parent);
  running = run;
  await run;
  if (running === run) running = null;
});

async function runJob(job: Job, parent: ArrayBuffer | undefined): Promise<void> {
  const abort = new AbortController();
  if (Atomics.load(cancelled, 0) !== 0) abort.abort("the worker pool is closing");
  let lastProgress = 0;
  const { result, artifact } = await executeJob(job, {
    threads,
    worker,
    signal: abort.signal,
    loadArtifact: async (key) => (key === job.spec?.parentId && parent ? new Float32Array(parent) : null),
    onProgress: (stepsDone, stepsTotal) => {
      if (Atomics.load(cancelled, 0) !== 0) abort.abort("the worker pool is closing");
      const now = performance.now();
      if (now - lastProgress < PROGRESS_MS && stepsDone < stepsTotal) return;
      lastProgress = now;
      post({
        type: "progress",
        bytes: JobProgress.encode({ jobId: job.id, stepsDone, stepsTotal, worker }).finish(),
      });
    },
  });
  const bytes = JobResult.encode(result).finish();
  if (!artifact) return post({ type: "result", bytes });
  // Copy into a buffer of its own when W is a view into a larger one, so the transfer moves only W.
  const W =
    artifact.W.byteOffset === 0 && artifact.W.byteLength === artifact.W.buffer.byteLength
      ? artifact.W
      : artifact.W.slice();
  post({ type: "result", bytes, artifact: W.buffer as ArrayBuffer, shape: artifact.shape }, [
    W.buffer as ArrayBuffer,
  ]);
}
post({ type: "ready" });
