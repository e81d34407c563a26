/** The worker's settings from the environment (see main.ts); a bad value throws a ClusterConfigError naming it. */
import { ClusterConfigError, jobLimits } from "@unlearn/cluster";
import { ENGINES } from "@unlearn/sweep";
import type { WorkerOptions } from "./worker.ts";

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
  if (!(ENGINES as readonly string[]).includes(engine))
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
