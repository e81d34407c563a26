/**
 * A stand-in for worker.ts in pool tests (no engines): it speaks the same message protocol and
 * misbehaves on request. dataset "crash-always": the thread dies on every attempt; "crash-once": it
 * dies on attempt 0 only; anything else: accuracies [steps/1000] and W = parent + 1 (or zeros).
 */
import { parentPort } from "node:worker_threads";
import { Job, JobProgress, JobResult } from "@unlearn/protocol";
import type { FromWorker, ToWorker } from "../src/pool.ts";

const port = parentPort!;
port.on("message", (message: ToWorker) => {
  if (message.type !== "job") return;
  const job = Job.decode(message.job);
  const spec = job.spec!;
  if (spec.dataset === "crash-always" || (spec.dataset === "crash-once" && job.attempt === 0)) {
    setTimeout(() => {
      throw new Error(`boom on attempt ${job.attempt}`);
    }, 5);
    return;
  }
  port.postMessage({
    type: "progress",
    bytes: JobProgress.encode({
      jobId: job.id,
      stepsDone: spec.steps,
      stepsTotal: spec.steps,
      worker: "fake",
    }).finish(),
  } satisfies FromWorker);
  const W = message.parent ? new Float32Array(message.parent).map((v) => v + 1) : new Float32Array(4);
  const result = JobResult.fromPartial({
    jobId: job.id,
    ok: true,
    accuracies: [spec.steps / 1000],
    stepsRun: spec.steps,
    worker: `fake-${job.attempt}`,
  });
  port.postMessage(
    {
      type: "result",
      bytes: JobResult.encode(result).finish(),
      artifact: W.buffer,
      shape: [2, 2],
    } satisfies FromWorker,
    [W.buffer],
  );
});
