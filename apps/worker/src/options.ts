/** The worker's settings from the environment (see main.ts); a bad value throws a ClusterConfigError naming it. */
import { batchColumnsFromEnv, ClusterConfigError } from "@unlearn/cluster";
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

/**
 * Delivery limits (ack wait, deliveries) are not a worker's to set: the coordinator provisions them on
 * the jobs consumer and every worker reads them there (JOB_ACK_WAIT_MS / JOB_MAX_DELIVER are the
 * coordinator's settings).
 */
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
  return {
    user: env.NATS_USER || undefined,
    engine,
    device,
    concurrency: positive("WORKER_CONCURRENCY", env.WORKER_CONCURRENCY, 1)!,
    threads: positive("WORKER_THREADS", env.WORKER_THREADS, undefined),
    heartbeatMs: positive("WORKER_HEARTBEAT_MS", env.WORKER_HEARTBEAT_MS, 2000),
    stopGraceMs: positive("WORKER_STOP_GRACE_MS", env.WORKER_STOP_GRACE_MS, 30_000),
    stallMs: positive("WORKER_STALL_MS", env.WORKER_STALL_MS, 300_000),
    storeRetryMs: positive("WORKER_STORE_RETRY_MS", env.WORKER_STORE_RETRY_MS, 600_000),
    // Job fusion: the width it advertises (default: @unlearn/core's batchColumns for its engine and device).
    batchColumns: batchColumnsFromEnv("WORKER_BATCH_COLUMNS", env),
  };
}
