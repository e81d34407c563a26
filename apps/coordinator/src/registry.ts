/**
 * The jobs in flight on the cluster, each dispatched once however many sweeps wait for it: a sweep
 * that runs a job already in flight joins it (as Temporal's USE_EXISTING joins a running workflow of
 * the same id), so jobs that sweeps share by their content-addressed ids run once and their result
 * reaches every waiting sweep. A sweep that stops waiting withdraws only its own waits; the job itself
 * is withdrawn when no sweep waits for it any more.
 */
import type { Job, JobProgress } from "@unlearn/protocol";
import type { DispatchOutput } from "@unlearn/sweep";

export interface Waiter {
  sweepId: string;
  onProgress?(progress: JobProgress): void;
  resolve(out: DispatchOutput): void;
}

export interface InFlightJob {
  job: Job;
  waiters: Set<Waiter>;
  /** the sequence of its message in the jobs stream, once queued (what withdrawing deletes) */
  seq?: number;
  /** a secret of this dispatch that its result must carry, when the transport issues one */
  nonce?: string;
}

export class InFlightRegistry {
  private readonly jobs = new Map<string, InFlightJob>();

  /** Adds `waiter` to the job; `first` when the job was not in flight, so the caller dispatches it. */
  join(job: Job, waiter: Waiter): { entry: InFlightJob; first: boolean } {
    const entry = this.jobs.get(job.id);
    if (entry) {
      entry.waiters.add(waiter);
      return { entry, first: false };
    }
    const created: InFlightJob = { job, waiters: new Set([waiter]) };
    this.jobs.set(job.id, created);
    return { entry: created, first: true };
  }

  get(jobId: string): InFlightJob | undefined {
    return this.jobs.get(jobId);
  }

  /** The job ended: every waiter gets `out` and the job leaves the registry. Returns how many waited. */
  settle(jobId: string, out: DispatchOutput): number {
    const entry = this.jobs.get(jobId);
    if (!entry) return 0;
    this.jobs.delete(jobId);
    for (const waiter of entry.waiters) waiter.resolve(out);
    return entry.waiters.size;
  }

  /**
   * Sweep `sweepId` stops waiting for the job: its waiters get `out`, the others keep waiting. Returns
   * the job when nobody waits for it any more (it has left the registry: the caller withdraws it).
   */
  leave(sweepId: string, jobId: string, out: DispatchOutput): InFlightJob | undefined {
    const entry = this.jobs.get(jobId);
    if (!entry) return undefined;
    for (const waiter of [...entry.waiters])
      if (waiter.sweepId === sweepId) {
        entry.waiters.delete(waiter);
        waiter.resolve(out);
      }
    if (entry.waiters.size > 0) return undefined;
    this.jobs.delete(jobId);
    return entry;
  }

  progress(p: JobProgress): void {
    for (const waiter of this.jobs.get(p.jobId)?.waiters ?? []) waiter.onProgress?.(p);
  }

  /** Whether a job in flight starts from `parentId`'s chains (they must stay in the bucket meanwhile). */
  startsFrom(parentId: string): boolean {
    for (const entry of this.jobs.values()) if (entry.job.spec?.parentId === parentId) return true;
    return false;
  }

  /**
   * Jobs in flight that sweep `sweepId` does not wait for (the cluster slots other sweeps hold), of
   * `engine` only when given (the slots of that engine's workers).
   */
  heldElsewhere(sweepId: string, engine?: string): number {
    let n = 0;
    for (const entry of this.jobs.values()) {
      if (engine !== undefined && entry.job.engine !== engine) continue;
      if (![...entry.waiters].some((w) => w.sweepId === sweepId)) n++;
    }
    return n;
  }

  get size(): number {
    return this.jobs.size;
  }
}
