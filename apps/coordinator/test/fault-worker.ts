/**
 * A real cluster worker whose job FAIL_JOB fails on every delivery (an injected fault, as a job that
 * always throws would) and whose job CRASH_JOB kills it; every other job runs as in `pnpm worker`.
 * Used by the fault tests only.
 */
import { connectNats, natsSettings } from "@unlearn/cluster";
import type { Job } from "@unlearn/protocol";
import type { DispatchOutput } from "@unlearn/sweep";
import { workerOptions } from "../../worker/src/options.ts";
import { ClusterWorker } from "../../worker/src/worker.ts";

class FaultyWorker extends ClusterWorker {
  protected override async execute(job: Job): Promise<DispatchOutput> {
    // A job that kills its worker every time (as a native crash or the OOM killer would).
    if (job.id === process.env.CRASH_JOB) process.kill(process.pid, "SIGKILL");
    if (job.id !== process.env.FAIL_JOB) return super.execute(job);
    return {
      result: {
        jobId: job.id,
        ok: false,
        error: "injected fault: this job fails every time",
        accuracies: [],
        artifactKey: "",
        stepsRun: 0,
        wallMs: 1,
        msPerStep: 0,
        engine: job.engine,
        worker: this.id,
      },
    };
  }
}

const nc = await connectNats(natsSettings(), "unlearn-fault-worker");
const worker = new FaultyWorker(nc, workerOptions());
await worker.start();
process.once("SIGTERM", () => void worker.stop().then(() => process.exit(0)));
