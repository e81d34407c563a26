/**
 * A stand-in for worker.ts in pool tests (no engines): it speaks the same message protocol and
 * misbehaves on request: a dataset containing "crash-always" kills the thread on every attempt,
 * "crash-once" on attempt 0 only, "crash-learn" on learning jobs, "crash-fused" in a batch of more than
 * one job (a job that fails only when fused), "fail-unlearn" fails unlearning jobs (ok: false), "slow"
 * takes 150 ms; one crashing job takes its whole batch down; a batch's jobs report fusedColumns;
 * otherwise accuracies [steps/1000] and W = parent + 1 (or zeros).
 */
import { parentPort } from "node:worker_threads";
import { Job, JobKind, JobProgress, JobResult } from "@unlearn/protocol";
import type { FromWorker, ToWorker } from "../src/pool.ts";

const port = parentPort!;
port.on("message", (message: ToWorker) => {
  // Like worker.ts, a stopped worker closes its port and its thread exits on its own.
  if (message.type === "stop") return port.close();
  const jobs = message.jobs.map((bytes) => Job.decode(bytes));
  const crashes = (job: Job) => {
    const spec = job.spec!;
    return (
      spec.dataset.includes("crash-always") ||
      (spec.dataset.includes("crash-learn") && spec.kind === JobKind.JOB_KIND_LEARN) ||
      (spec.dataset.includes("crash-once") && job.attempt === 0) ||
      (spec.dataset.includes("crash-fused") && jobs.length > 1)
    );
  };
  // One job that crashes takes the thread, and so its whole batch, with it.
  const crasher = jobs.find(crashes);
  if (crasher) {
    setTimeout(() => {
      throw new Error(`boom on attempt ${crasher.attempt}`);
    }, 5);
    return;
  }
  const slow = jobs.some((job) => job.spec!.dataset.includes("slow"));
  setTimeout(
    () => {
      for (const [i, job] of jobs.entries()) {
        if (job.spec!.dataset.includes("fail-unlearn") && job.spec!.kind === JobKind.JOB_KIND_UNLEARN) {
          const result = JobResult.fromPartial({ jobId: job.id, ok: false, error: "unlearning refused" });
          port.postMessage({ type: "result", bytes: JobResult.encode(result).finish() } satisfies FromWorker);
          continue;
        }
        reply(job, message.parents[i], jobs.length);
      }
    },
    slow ? 150 : 0,
  );
});

function reply(job: Job, parent: ArrayBuffer | undefined, mates: number) {
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
    ...(mates > 1 ? { fusedColumns: mates * spec.chains } : {}),
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
