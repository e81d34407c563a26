/**
 * Decoding with validation: anything that arrives over NATS is untrusted bytes. A message that does not
 * decode, or decodes to something no job/result/worker can be, throws a MalformedMessage naming the
 * subject and the bad field; the receiver logs it and drops it (terminates it in JetStream), and goes on.
 */
import { Job, JobBatch, JobKind, JobProgress, JobResult, jobId, WorkerInfo } from "@unlearn/protocol";
import { ANONYMOUS } from "./names.ts";

export class MalformedMessage extends Error {
  override name = "MalformedMessage";
}

const HEX64 = /^[0-9a-f]{64}$/;

function decode<T>(what: string, subject: string, bytes: Uint8Array, fn: (b: Uint8Array) => T): T {
  try {
    return fn(bytes);
  } catch (error) {
    throw new MalformedMessage(
      `${subject}: ${bytes.length} bytes do not decode as a ${what}: ${(error as Error).message}`,
    );
  }
}

function bad(subject: string, field: string, why: string): never {
  throw new MalformedMessage(`${subject}: field ${field} ${why}`);
}

/** A Job whose id is the content address of its spec (so a tampered spec cannot pose as another job). */
export function decodeJob(subject: string, bytes: Uint8Array): Job {
  const job = decode("Job", subject, bytes, (b) => Job.decode(b));
  if (!HEX64.test(job.id)) bad(subject, "id", `must be 64 hex digits, got ${JSON.stringify(job.id)}`);
  if (!job.spec) bad(subject, "spec", "is missing");
  if (!(job.spec.kind in JobKind) || job.spec.kind === JobKind.JOB_KIND_UNSPECIFIED)
    bad(subject, "spec.kind", `is not a job kind: ${job.spec.kind}`);
  if (jobId(job.spec) !== job.id) bad(subject, "id", "is not the SHA-256 of the spec");
  if (!job.sweepId) bad(subject, "sweep_id", "is empty");
  if (!job.engine) bad(subject, "engine", "is empty");
  return job;
}

/**
 * A JobBatch (job fusion: several jobs as one message): at least one job, each valid as decodeJob
 * checks it, no job twice, all of one engine and device.
 */
export function decodeJobBatch(subject: string, bytes: Uint8Array): Job[] {
  const batch = decode("JobBatch", subject, bytes, (b) => JobBatch.decode(b));
  if (batch.jobs.length === 0) bad(subject, "jobs", "is empty");
  const jobs = batch.jobs.map((job) => decodeJob(subject, Job.encode(job).finish()));
  if (new Set(jobs.map((j) => j.id)).size !== jobs.length) bad(subject, "jobs", "names a job twice");
  const [first] = jobs;
  if (jobs.some((j) => j.engine !== first!.engine || j.device !== first!.device))
    bad(subject, "jobs", "mixes engines or devices");
  return jobs;
}

/** The jobs a job message carries: a JobBatch's (`batch`: it has the Unlearn-Batch header) or one Job. */
export function decodeJobs(subject: string, bytes: Uint8Array, batch: boolean): Job[] {
  return batch ? decodeJobBatch(subject, bytes) : [decodeJob(subject, bytes)];
}

const SNAKE = { stepsRun: "steps_run", wallMs: "wall_ms", msPerStep: "ms_per_step" } as const;

export function decodeResult(subject: string, bytes: Uint8Array): JobResult {
  const r = decode("JobResult", subject, bytes, (b) => JobResult.decode(b));
  if (!HEX64.test(r.jobId)) bad(subject, "job_id", `must be 64 hex digits, got ${JSON.stringify(r.jobId)}`);
  if (r.ok) {
    if (r.accuracies.length === 0) bad(subject, "accuracies", "is empty in an ok result");
    if (r.accuracies.some((a) => !(a >= 0 && a <= 1)))
      bad(subject, "accuracies", "has a value outside [0, 1]");
    if (r.artifactKey !== r.jobId) bad(subject, "artifact_key", "must be the job id in an ok result");
  } else if (!r.error) bad(subject, "error", "is empty in a failed result");
  // The store refuses these; refused here, the message is terminated instead of stopping a sweep.
  for (const field of ["stepsRun", "wallMs", "msPerStep"] as const)
    if (!(Number.isFinite(r[field]) && r[field] >= 0))
      bad(subject, SNAKE[field], `must be a finite number ≥ 0, got ${r[field]}`);
  return r;
}

export function decodeProgress(subject: string, bytes: Uint8Array): JobProgress {
  const p = decode("JobProgress", subject, bytes, (b) => JobProgress.decode(b));
  if (!HEX64.test(p.jobId)) bad(subject, "job_id", "must be 64 hex digits");
  if (p.stepsDone > p.stepsTotal) bad(subject, "steps_done", "exceeds steps_total");
  return p;
}

export function decodeWorker(subject: string, bytes: Uint8Array): WorkerInfo {
  const w = decode("WorkerInfo", subject, bytes, (b) => WorkerInfo.decode(b));
  if (!w.id) bad(subject, "id", "is empty");
  if (!w.engine) bad(subject, "engine", "is empty");
  if (w.concurrency < 1) bad(subject, "concurrency", `must be ≥ 1, got ${w.concurrency}`);
  // The dashboard links these ids and shows this rate: a job id is a content address, the rate a real speed.
  const badJob = w.currentJobs.find((id) => !HEX64.test(id));
  if (badJob !== undefined) bad(subject, "current_jobs", `has ${JSON.stringify(badJob)}, not 64 hex digits`);
  // Older workers send no ids; a newer one names exactly the jobs it counts in running.
  if (w.currentJobs.length > w.running)
    bad(subject, "current_jobs", `names ${w.currentJobs.length} jobs but running is ${w.running}`);
  if (!(Number.isFinite(w.stepsPerSecond) && w.stepsPerSecond >= 0))
    bad(subject, "steps_per_second", `must be a finite number ≥ 0, got ${w.stepsPerSecond}`);
  return w;
}

/**
 * A heartbeat from subject unlearn.workers.<user>: a worker of another user cannot publish there
 * (nats-config), and the id must be that user's (`<user>@…`), so no worker speaks for another user's.
 */
export function decodeHeartbeat(subject: string, bytes: Uint8Array): WorkerInfo {
  const w = decodeWorker(subject, bytes);
  const user = subject.split(".").at(-1) ?? "";
  if (user !== ANONYMOUS && !w.id.startsWith(`${user}@`))
    bad(subject, "id", `${JSON.stringify(w.id)} is not one of NATS user ${user}'s workers (${user}@…)`);
  if (user === ANONYMOUS && w.id.includes("@"))
    bad(subject, "id", `${JSON.stringify(w.id)} names a NATS user, but came without one`);
  return w;
}
