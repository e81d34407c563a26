/**
 * Creates (or updates) the streams, consumers and bucket that names.ts names; idempotent, so the
 * coordinator and every worker call it on start and whichever comes first sets things up.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import {
  ADVISORIES_STREAM,
  COORDINATOR_CONSUMER,
  engineJobsFilter,
  JOBS_STREAM,
  MAX_DELIVERIES_ALL,
  RESULTS_STREAM,
  workerConsumer,
} from "./names.ts";

/** Delivery limits of a job: how long a worker may stay silent, and how often a job is tried. */
export interface JobLimits {
  /** ms without an ack or an in-progress ack before JetStream redelivers the job */
  ackWaitMs: number;
  /** deliveries of a job before it is given up (stored failed) */
  maxDeliver: number;
}

export const DEFAULT_LIMITS: JobLimits = { ackWaitMs: 30_000, maxDeliver: 3 };

/** JOB_ACK_WAIT_MS / JOB_MAX_DELIVER override the defaults (tests shorten them). */
export function jobLimits(env: NodeJS.ProcessEnv = process.env): JobLimits {
  const read = (name: string, fallback: number, min: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`${name}: expected an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  return {
    ackWaitMs: read("JOB_ACK_WAIT_MS", DEFAULT_LIMITS.ackWaitMs, 1000),
    maxDeliver: read("JOB_MAX_DELIVER", DEFAULT_LIMITS.maxDeliver, 1),
  };
}

/** Dedup window for job publications: a coordinator restarted within it does not queue a job twice. */
const DUPLICATE_WINDOW_MS = 120_000;

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }) {
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config);
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || !/not found/i.test(error.message)) throw error;
    await jsm.streams.add(config);
  }
}

export async function ensureStreams(jsm: JetStreamManager): Promise<void> {
  await ensureStream(jsm, {
    name: JOBS_STREAM,
    subjects: ["unlearn.jobs.>"],
    retention: RetentionPolicy.Workqueue,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  });
  await ensureStream(jsm, {
    name: RESULTS_STREAM,
    subjects: ["unlearn.results.>"],
    retention: RetentionPolicy.Workqueue,
  });
  await jsm.consumers.add(RESULTS_STREAM, {
    durable_name: COORDINATOR_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    // The coordinator acks a result once the database holds it; until then a restart gets it again.
    ack_wait: nanos(120_000),
    max_ack_pending: 20_000,
  });
  await ensureStream(jsm, {
    name: ADVISORIES_STREAM,
    subjects: [MAX_DELIVERIES_ALL],
    retention: RetentionPolicy.Workqueue,
    max_age: nanos(24 * 3600_000),
  });
  await jsm.consumers.add(ADVISORIES_STREAM, {
    durable_name: COORDINATOR_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(60_000),
  });
}

/** The durable pull consumer shared by every worker of `engine`. */
export async function ensureWorkerConsumer(
  jsm: JetStreamManager,
  engine: string,
  limits: JobLimits,
): Promise<void> {
  const config = {
    durable_name: workerConsumer(engine),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: engineJobsFilter(engine),
    ack_wait: nanos(limits.ackWaitMs),
    max_deliver: limits.maxDeliver,
    max_ack_pending: 10_000,
  };
  try {
    await jsm.consumers.add(JOBS_STREAM, config);
  } catch (error) {
    // An existing consumer with other limits: take the new ones (the last worker started wins).
    if (!(error instanceof JetStreamApiError)) throw error;
    await jsm.consumers.update(JOBS_STREAM, config.durable_name, config);
  }
}
