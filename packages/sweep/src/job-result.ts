import type { Job, JobResult } from "@unlearn/protocol";

/** The result of a job that did not finish: no accuracies, no chains, the error that stopped it. */
export function failedResult(job: Job, error: string, worker = "", wallMs = 0): JobResult {
  return {
    jobId: job.id,
    ok: false,
    error,
    accuracies: [],
    artifactKey: "",
    stepsRun: 0,
    wallMs,
    msPerStep: 0,
    engine: job.engine,
    worker,
  };
}
