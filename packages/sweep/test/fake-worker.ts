/**
 * A stand-in for worker.ts in pool tests (no engines): it speaks the same message protocol and
 * misbehaves on request: a dataset containing "crash-always" kills the thread on every attempt,
 * "crash-once" on attempt 0 only, "crash-learn" on learning jobs, "fail-unlearn" fails unlearning jobs (ok: false), "slow" takes 150 ms;
 * otherwise accuracies [steps/1000] and W = parent + 1 (or zeros).
 */
import { parentPort } from "node:worker_threads";
import { Job, JobKind, JobProgress, JobResult } from "@unlearn/protocol";
import type { FromWorker, ToWorker } from "../src/pool.ts";

const port = parentPort!;
port.on("message", (message: ToWorker) => {
  // Like worker.ts, a stopped worker closes its port and its thread exits on its own.
  if (message.type === "stop") return port.close();
  const job = Job.decode(message.job);
  const spec = job.spec!;
  const crashLearn = spec.dataset.includes("crash-learn") && spec.kind === JobKind.JOB_KIND_LEARN;
  if (
    spec.dataset.includes("crash-always") ||
    crashLearn ||
    (spec.dataset.includes("crash-once") && job.attempt === 0)
  ) {
    setTimeout(() => {
      throw new Error(`boom on attempt ${job.attempt}`);
    }, 5);
    return;
  }
  if (spec.dataset.includes("fail-unlearn") && spec.kind === JobKind.JOB_KIND_UNLEARN) {
    const result = JobResult.fromPartial({ jobId: job.id, ok: false, error: "unlearning refused" });
    port.postMessage({ type: "result", bytes: JobResult.encode(result).finish() } satisfies FromWorker);
    return;
  }
  setTimeout(() => reply(job, message.parent), spec.dataset.includes("slow") ? 150 : 0);
});

function reply(job: Job, parent: ArrayBuffer | undefined) {
  const spec = job.spec!;
  port.postMessage({
    type: "progress",
    bytes: JobProgress.encode({
      jobId: job.id,
      stepsDone: spec.steps,
      stepsTotal: spec.steps,
      worker: "fake",
    }).finish(),
  } satisfies FromWorker);
  const W = parent ? new Float32Array(parent).map((v) => v + 1) : new Float32Array(4);
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
}
