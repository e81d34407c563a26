/**
 * A real cluster worker whose job FAIL_JOB fails on every delivery (an injected fault, as a job that
 * always throws would) and whose job CRASH_JOB kills it, alone or in a fused batch; every other job
 * runs as in `pnpm worker`.
 * Used by the fault tests only.
 */
import { connectNats, natsSettings } from "@unlearn/cluster";
import type { Job } from "@unlearn/protocol";
import { type DispatchOutput, failedResult } from "@unlearn/sweep";
import { workerOptions } from "../../worker/src/options.ts";
import { ClusterWorker } from "../../worker/src/worker.ts";

class FaultyWorker extends ClusterWorker {
  protected override async execute(job: Job): Promise<DispatchOutput> {
    // A job that kills its worker every time (as a native crash or the OOM killer would).
    if (job.id === process.env.CRASH_JOB) process.kill(process.pid, "SIGKILL");
    if (job.id !== process.env.FAIL_JOB) return super.execute(job);
    return { result: failedResult(job, "injected fault: this job fails every time", this.id, 1) };
  }

  /** The same faults in a fused batch (a JobBatch message): the crash kills the worker, the failure fails its job. */
  protected override async executeBatch(jobs: Job[], signal: AbortSignal): Promise<DispatchOutput[]> {
    if (jobs.some((j) => j.id === process.env.CRASH_JOB)) process.kill(process.pid, "SIGKILL");
    const rest = jobs.filter((j) => j.id !== process.env.FAIL_JOB);
    const outs = rest.length > 0 ? await super.executeBatch(rest, signal) : [];
    return jobs.map((job) =>
      job.id === process.env.FAIL_JOB
        ? { result: failedResult(job, "injected fault: this job fails every time", this.id, 1) }
        : outs[rest.indexOf(job)]!,
    );
  }
}

const nc = await connectNats(natsSettings(), "unlearn-fault-worker");
const worker = new FaultyWorker(nc, workerOptions());
await worker.start();
process.once("SIGTERM", () => void worker.stop().then(() => process.exit(0)));
