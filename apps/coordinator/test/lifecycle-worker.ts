/**
 * A real cluster worker (as `pnpm worker` runs it) whose job HANG_JOB hangs on its first delivery, as
 * an engine stuck in a native call would: no step ever comes. Every other run is the real one.
 * Used by the lifecycle tests only.
 */
import { connectNats, natsSettings } from "@unlearn/cluster";
import type { Job } from "@unlearn/protocol";
import type { DispatchOutput } from "@unlearn/sweep";
import { workerOptions } from "../../worker/src/options.ts";
import { ClusterWorker } from "../../worker/src/worker.ts";

class HangingWorker extends ClusterWorker {
  protected override execute(job: Job): Promise<DispatchOutput> {
    if (job.id === process.env.HANG_JOB && job.attempt === 0) return new Promise(() => {});
    return super.execute(job);
  }
}

const nc = await connectNats(natsSettings(), "unlearn-lifecycle-worker");
const worker = new HangingWorker(nc, workerOptions());
await worker.start();
process.once("SIGTERM", () => void worker.stop().then(() => process.exit(0)));
