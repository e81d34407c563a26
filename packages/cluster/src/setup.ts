/**
 * Provisioning is the coordinator's alone: provision() creates (or updates) the streams, consumers and
 * buckets that names.ts names, with the delivery limits the coordinator is configured with. A worker
 * only bind()s to what exists, with NATS permissions that forbid creating or editing anything (see
 * apps/coordinator's nats-config), and takes the limits from its consumer: one source for every worker.
 */
import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type ObjectStore, Objm } from "@nats-io/obj";
import { millis, type NatsConnection, nanos } from "@nats-io/transport-node";
import {
  ADVISORIES_STREAM,
  CHAINS_BUCKET,
  COORDINATOR_CONSUMER,
  DISPATCH_STREAM,
  engineJobsFilter,
  HANDBACKS_STREAM,
  JOBS_STREAM,
  MAX_DELIVERIES_ALL,
  RESULTS_STREAM,
  UPLOADS_BUCKET,
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

/**
 * Dedup window for job publications. Each dispatch has a message id of its own (its nonce), and the
 * dispatch ledger (dispatch.ts), not this window, is what keeps a restarted coordinator from queueing a
 * job twice; the window only absorbs a publish retried after a lost ack.
 */
const DUPLICATE_WINDOW_MS = 120_000;
/** Uploads the coordinator never sealed (its job was withdrawn, a forger's junk) expire. */
const UPLOAD_MAX_AGE_MS = 24 * 3600_000;
const UPLOADS_MAX_BYTES = 2 * 1024 ** 3;

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }) {
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config);
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || !/not found/i.test(error.message)) throw error;
    await jsm.streams.add(config);
  }
}

/** A durable consumer, created or brought to `config` (the coordinator's settings win). */
async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Parameters<JetStreamManager["consumers"]["add"]>[1] & { durable_name: string },
) {
  try {
    await jsm.consumers.add(stream, config);
  } catch (error) {
    if (!(error instanceof JetStreamApiError)) throw error;
    await jsm.consumers.update(stream, config.durable_name, config);
  }
}

const coordinatorReads = (ackWaitMs: number, extra: { max_ack_pending?: number } = {}) => ({
  durable_name: COORDINATOR_CONSUMER,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  ack_wait: nanos(ackWaitMs),
  ...extra,
});

export interface ProvisionOptions {
  /** engines that get a workers' consumer (every engine a sweep may name) */
  engines: readonly string[];
  limits: JobLimits;
  /** bounds of CHAINS_BUCKET (default: chainsBucketLimits() of the environment) */
  chains?: ChainsBucketLimits;
}

/**
 * Bounds of the chains bucket. Chains are needed there only while a job may start from them (the
 * database keeps every parent's chains, and a dispatch re-uploads a parent's that the bucket lost), so
 * a TTL is a safe backstop against chains nobody deletes, and a size limit keeps a runaway sweep from
 * filling the NATS server's disk: a full bucket refuses new chains (the bucket's discard policy is
 * "new"), it never drops ones in use.
 */
export interface ChainsBucketLimits {
  maxBytes: number;
  ttlMs: number;
}

export const DEFAULT_CHAINS_LIMITS: ChainsBucketLimits = {
  maxBytes: 20 * 1024 ** 3,
  ttlMs: 7 * 24 * 3600_000,
};

/** CHAINS_BUCKET_MAX_BYTES / CHAINS_BUCKET_TTL_MS override the defaults (20 GiB, 7 days). */
export function chainsBucketLimits(env: NodeJS.ProcessEnv = process.env): ChainsBucketLimits {
  const read = (name: string, fallback: number, min: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min)
      throw new Error(`${name}: expected an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  return {
    maxBytes: read("CHAINS_BUCKET_MAX_BYTES", DEFAULT_CHAINS_LIMITS.maxBytes, 1024 * 1024),
    ttlMs: read("CHAINS_BUCKET_TTL_MS", DEFAULT_CHAINS_LIMITS.ttlMs, 60_000),
  };
}

/** Creates the chains bucket with its bounds, and sets them on one created before they existed. */
async function ensureChainsBucket(nc: NatsConnection, jsm: JetStreamManager, limits: ChainsBucketLimits) {
  await new Objm(nc).create(CHAINS_BUCKET, { max_bytes: limits.maxBytes, ttl: nanos(limits.ttlMs) });
  const stream = `OBJ_${CHAINS_BUCKET}`;
  const { config } = await jsm.streams.info(stream);
  if (config.max_bytes !== limits.maxBytes || config.max_age !== nanos(limits.ttlMs))
    await jsm.streams.update(stream, { ...config, max_bytes: limits.maxBytes, max_age: nanos(limits.ttlMs) });
}

/** The coordinator's start: every stream, consumer and bucket, idempotent. */
export async function provision(nc: NatsConnection, options: ProvisionOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, {
    name: JOBS_STREAM,
    subjects: ["unlearn.jobs.>"],
    retention: RetentionPolicy.Workqueue,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  });
  for (const engine of options.engines) await ensureWorkerConsumer(jsm, engine, options.limits);
  await ensureStream(jsm, {
    name: RESULTS_STREAM,
    subjects: ["unlearn.results.>"],
    retention: RetentionPolicy.Workqueue,
  });
  // The coordinator acks a result once the database holds it; until then a restart gets it again.
  await ensureConsumer(jsm, RESULTS_STREAM, coordinatorReads(120_000, { max_ack_pending: 20_000 }));
  await ensureStream(jsm, {
    name: ADVISORIES_STREAM,
    subjects: [MAX_DELIVERIES_ALL],
    retention: RetentionPolicy.Workqueue,
    max_age: nanos(24 * 3600_000),
  });
  await ensureConsumer(jsm, ADVISORIES_STREAM, coordinatorReads(60_000));
  await ensureStream(jsm, {
    name: HANDBACKS_STREAM,
    subjects: ["unlearn.handbacks.>"],
    retention: RetentionPolicy.Workqueue,
    max_age: nanos(24 * 3600_000),
  });
  await ensureConsumer(jsm, HANDBACKS_STREAM, coordinatorReads(60_000));
  // One message per job: the latest dispatch of each job in flight (dispatch.ts).
  await ensureStream(jsm, {
    name: DISPATCH_STREAM,
    subjects: ["unlearn.dispatches.>"],
    max_msgs_per_subject: 1,
    discard: DiscardPolicy.Old,
    allow_direct: true,
  });
  const chains = options.chains ?? chainsBucketLimits();
  await ensureChainsBucket(nc, jsm, chains);
  // Workers write here, the chains of jobs in flight only until they are sealed: bounded, so none can
  // fill the server's disk through it (JetStream reserves max_bytes: kept small beside the chains').
  const uploads = Math.min(UPLOADS_MAX_BYTES, chains.maxBytes);
  await new Objm(nc).create(UPLOADS_BUCKET, { ttl: nanos(UPLOAD_MAX_AGE_MS), max_bytes: uploads });
}

/** The durable pull consumer shared by every worker of `engine`. */
async function ensureWorkerConsumer(jsm: JetStreamManager, engine: string, limits: JobLimits) {
  await ensureConsumer(jsm, JOBS_STREAM, {
    durable_name: workerConsumer(engine),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: engineJobsFilter(engine),
    ack_wait: nanos(limits.ackWaitMs),
    max_deliver: limits.maxDeliver,
    max_ack_pending: 10_000,
  });
}

/** What a worker binds to: its engine's jobs consumer, with its limits, and the sealed chains. */
export interface Binding {
  consumer: Consumer;
  limits: JobLimits;
  chains: ObjectStore;
}

const isPermissionError = (error: unknown) => /permissions? violation/i.test(String(error));

/**
 * A worker's start: binds to what the coordinator provisioned, waiting (and saying so) while it is not
 * there yet; a permissions violation is a configuration error and throws at once.
 */
export async function bind(
  nc: NatsConnection,
  engine: string,
  log: (line: string) => void,
  retryMs = 2000,
): Promise<Binding> {
  const js = jetstream(nc);
  for (let attempt = 1; ; attempt++) {
    try {
      const consumer = await js.consumers.get(JOBS_STREAM, workerConsumer(engine));
      const { config } = await consumer.info(true);
      const chains = await new Objm(nc).open(CHAINS_BUCKET);
      const limits = { ackWaitMs: millis(config.ack_wait ?? 0), maxDeliver: config.max_deliver ?? -1 };
      return { consumer, limits, chains };
    } catch (error) {
      if (isPermissionError(error)) throw error;
      if (attempt === 1 || attempt % 15 === 0)
        log(
          `waiting for the coordinator to provision ${JOBS_STREAM}/${workerConsumer(engine)} and ${CHAINS_BUCKET}: ${(error as Error).message}`,
        );
      await new Promise((r) => setTimeout(r, retryMs));
    }
  }
}
