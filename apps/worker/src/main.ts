/**
 * `pnpm worker`: a cluster worker. Environment: NATS_URL (+ NATS_USER/NATS_PASSWORD or NATS_CREDS; with
 * the worker user of `pnpm coordinator nats-config` it may only do what a worker does), WORKER_ENGINE
 * (an engine of @unlearn/sweep's ENGINES, default onnx), WORKER_DEVICE (cpu | cuda, default cpu, given
 * to the engine), WORKER_CONCURRENCY (jobs at once, default 1), WORKER_THREADS (engine threads per job,
 * default cores / concurrency), WORKER_STALL_MS (a job whose steps stand still this long is handed
 * back, default 300000), WORKER_STOP_GRACE_MS (SIGTERM's wait for running jobs, default 30000),
 * WORKER_STORE_RETRY_MS (how long object-store calls are retried, default 600000). The delivery limits
 * come from the jobs consumer the coordinator provisioned. It waits for NATS and for the coordinator's
 * provisioning at start. Exit code 2 for a bad environment, 1 when it cannot start.
 */
import { connectNats, exitWithParent, natsSettings } from "@unlearn/cluster";
import { workerOptions } from "./options.ts";
import { ClusterWorker, type WorkerOptions } from "./worker.ts";

async function main(): Promise<number> {
  let options: WorkerOptions;
  let settings: ReturnType<typeof natsSettings>;
  try {
    options = workerOptions();
    settings = natsSettings();
  } catch (error) {
    console.error(`worker: ${(error as Error).message}`);
    return 2;
  }
  exitWithParent();
  const nc = await connectNats(settings, `unlearn-worker ${options.engine}`);
  const worker = new ClusterWorker(nc, options);
  await worker.start();
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      console.error(`[worker ${worker.id}] stopping: finishing running jobs`);
      void worker.stop().then(resolve);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  await stopped;
  await nc.drain().catch(() => {});
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`worker: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
