/**
 * `pnpm worker`: a cluster worker. Environment: NATS_URL (+ NATS_USER/NATS_PASSWORD or NATS_CREDS),
 * WORKER_ENGINE (onnx | tfjs | reference, default onnx), WORKER_DEVICE (cpu | cuda, default cpu),
 * WORKER_CONCURRENCY (jobs at once, default 1), WORKER_THREADS (engine threads per job, default
 * cores / concurrency), JOB_ACK_WAIT_MS / JOB_MAX_DELIVER (delivery limits, see @unlearn/cluster).
 * Exit code 2 for a bad environment, 1 when it cannot start.
 */
import { ClusterConfigError, connectNats, exitWithParent, jobLimits, natsSettings } from "@unlearn/cluster";
import { ClusterWorker, type WorkerOptions } from "./worker.ts";

const ENGINES = ["onnx", "tfjs", "reference"];
const DEVICES = ["cpu", "cuda"];

function positive(name: string, raw: string | undefined, fallback: number | undefined): number | undefined {
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new ClusterConfigError(`${name}: expected an integer ≥ 1, got ${JSON.stringify(raw)}`);
  return n;
}

export function workerOptions(env: NodeJS.ProcessEnv = process.env): WorkerOptions {
  const engine = env.WORKER_ENGINE || "onnx";
  if (!ENGINES.includes(engine))
    throw new ClusterConfigError(
      `WORKER_ENGINE: expected one of ${ENGINES.join(", ")}, got ${JSON.stringify(engine)}`,
    );
  const device = env.WORKER_DEVICE || "cpu";
  if (!DEVICES.includes(device))
    throw new ClusterConfigError(
      `WORKER_DEVICE: expected one of ${DEVICES.join(", ")}, got ${JSON.stringify(device)}`,
    );
  let limits: WorkerOptions["limits"];
  try {
    limits = jobLimits(env);
  } catch (error) {
    throw new ClusterConfigError((error as Error).message);
  }
  return {
    engine,
    device,
    concurrency: positive("WORKER_CONCURRENCY", env.WORKER_CONCURRENCY, 1)!,
    threads: positive("WORKER_THREADS", env.WORKER_THREADS, undefined),
    heartbeatMs: positive("WORKER_HEARTBEAT_MS", env.WORKER_HEARTBEAT_MS, 2000),
    stopGraceMs: positive("WORKER_STOP_GRACE_MS", env.WORKER_STOP_GRACE_MS, 30_000),
    limits,
  };
}

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
