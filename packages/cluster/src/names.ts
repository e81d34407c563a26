/**
 * The NATS names the coordinator and the workers agree on: one place, so the two apps cannot drift.
 *
 *   UNLEARN_JOBS     work-queue stream, subjects unlearn.jobs.<engine>.<sweep id>; one durable pull
 *                    consumer per engine ("workers-<engine>") shared by every worker of that engine, so
 *                    each job goes to exactly one live worker and comes back after a crash.
 *   UNLEARN_RESULTS  stream of JobResult messages (unlearn.results.<job id>), read by the coordinator's
 *                    durable consumer: a result published while the coordinator is down waits for it.
 *   unlearn.progress.<sweep id>   JobProgress, core NATS (lossy on purpose: the next one replaces it)
 *   unlearn.workers.<NATS user>   WorkerInfo announcements and heartbeats, core NATS
 *   UNLEARN_ADVISORIES  JetStream's max-deliveries advisories for UNLEARN_JOBS (a job given up), durable
 *                    for the same reason
 *   unlearn-chains   object store bucket: a job's final chains under its job id, written by the
 *                    coordinator only (workers read it)
 *   unlearn-uploads  object store bucket the workers write their chains into, each under a name only
 *                    the dispatch's holder can know (dispatch.ts); the coordinator checks and seals them
 *   UNLEARN_HANDBACKS  a worker's graceful hand-back of a job (SIGTERM), read by the coordinator,
 *                    which queues the job again without using up one of its deliveries
 *   unlearn.cancel.<job id>       the coordinator withdraws a running job, core NATS
 *   UNLEARN_DISPATCHES  the coordinator's alone, one message per job (unlearn.dispatches.<job id>): the dispatch (nonce, stream sequence) of
 *                    every job in flight, so a restarted coordinator neither forgets nor repeats one
 */
export const JOBS_STREAM = "UNLEARN_JOBS";
export const RESULTS_STREAM = "UNLEARN_RESULTS";
/** JetStream's max-deliveries advisories, kept in a stream so a coordinator that was down reads them after. */
export const ADVISORIES_STREAM = "UNLEARN_ADVISORIES";
export const CHAINS_BUCKET = "unlearn-chains";
export const UPLOADS_BUCKET = "unlearn-uploads";
export const HANDBACKS_STREAM = "UNLEARN_HANDBACKS";
export const DISPATCH_STREAM = "UNLEARN_DISPATCHES";
/** The object store's stream behind a bucket (as @nats-io/obj names it). */
export const objectStream = (bucket: string) => `OBJ_${bucket}`;
export const COORDINATOR_CONSUMER = "coordinator";
/** What a connection without a NATS user announces itself under (no identity to check then). */
export const ANONYMOUS = "anonymous";

/**
 * Heartbeats of the workers of NATS user `user`: nats-config lets each worker user publish on its own
 * subject only, and a worker's id starts with its user (workerId), so none can speak for another's.
 */
export function workerSubject(user: string | undefined): string {
  return `unlearn.workers.${token("NATS user", user || ANONYMOUS)}`;
}
export const WORKERS_ALL = "unlearn.workers.*";

/** A worker's id: `<user>@<host>:<pid>:<engine>`, or without `<user>@` when it has no NATS user. */
export function workerId(user: string | undefined, host: string, pid: number, engine: string): string {
  return `${user ? `${user}@` : ""}${host}:${pid}:${engine}`;
}

/** Engine names as they may appear in a subject token (the job's engine field is checked against it). */
const TOKEN = /^[A-Za-z0-9_-]+$/;

function token(what: string, value: string): string {
  if (!TOKEN.test(value))
    throw new Error(
      `${what} must be letters, digits, '_' or '-' (a NATS subject token), got ${JSON.stringify(value)}`,
    );
  return value;
}

export function jobSubject(engine: string, sweepId: string): string {
  return `unlearn.jobs.${token("engine", engine)}.${token("sweep id", sweepId)}`;
}

/** Every job of one sweep, whatever its engine (to purge a cancelled sweep's queued jobs). */
export function sweepJobsFilter(sweepId: string): string {
  return `unlearn.jobs.*.${token("sweep id", sweepId)}`;
}

export function engineJobsFilter(engine: string): string {
  return `unlearn.jobs.${token("engine", engine)}.>`;
}

export function workerConsumer(engine: string): string {
  return `workers-${token("engine", engine)}`;
}

export function resultSubject(jobId: string): string {
  return `unlearn.results.${token("job id", jobId)}`;
}

export function progressSubject(sweepId: string): string {
  return `unlearn.progress.${token("sweep id", sweepId)}`;
}

export const PROGRESS_ALL = "unlearn.progress.>";

/** JetStream's advisory when a job message used up its deliveries (a worker died with it each time). */
export function maxDeliveriesAdvisory(engine: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${JOBS_STREAM}.${workerConsumer(engine)}`;
}
export const MAX_DELIVERIES_ALL = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${JOBS_STREAM}.*`;

export function handbackSubject(jobId: string): string {
  return `unlearn.handbacks.${token("job id", jobId)}`;
}

export function cancelSubject(jobId: string): string {
  return `unlearn.cancel.${token("job id", jobId)}`;
}
export const CANCEL_ALL = "unlearn.cancel.*";

export function dispatchSubject(jobId: string): string {
  return `unlearn.dispatches.${token("job id", jobId)}`;
}
