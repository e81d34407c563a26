/**
 * Progress of a running sweep: which jobs run (by name) and how far each is, a smoothed step rate, and
 * an ETA from the plan's remaining steps. The same snapshot feeds the CLI's display in the embedded
 * mode and the coordinator's progress stream in the cluster mode.
 *
 * ETA = max(remaining steps / rate of all workers, remaining critical path / rate of one job), with both
 * rates exponentially smoothed over ~30 s, so a burst of load moves it gradually rather than swinging it,
 * and the tail of a sweep (one long unlearning job left) is not predicted at the speed of many workers.
 */
import { type Job, kindName } from "@unlearn/protocol";
import type { SweepLink } from "./planner.ts";
import { Heap, remainingPaths } from "./scheduler-dag.ts";

export interface RunningJob {
  id: string;
  /** kind and labels, e.g. "unlearn S=100 ε=1 K=1491" */
  name: string;
  stepsDone: number;
  stepsTotal: number;
}

export interface SweepProgress {
  sweepId: string;
  /** jobs of the sweep, reused ones included */
  total: number;
  /** jobs finished: reused, run in this run, or failed */
  done: number;
  reused: number;
  failed: number;
  running: number;
  /** steps per second, all workers together, smoothed */
  stepsPerSecond: number;
  /** seconds left; null before a rate is known */
  etaSeconds: number | null;
  /** the running jobs with their own step progress (absent where a transport does not report them) */
  jobs?: RunningJob[];
}

/** Time constant of the rate's exponential smoothing. */
const SMOOTHING_MS = 30_000;
/** A new rate sample at most this often (progress arrives every ~200 ms per job). */
const SAMPLE_MS = 1_000;

const fmt = (x: number) => String(Number(x.toPrecision(3)));

/**
 * A job's display name: its kind and what distinguishes it in its figure, e.g. "learn 10000 steps",
 * "retrain S=100", "unlearn S=100 ε=1 K=1491" (ε from the sweep's links: one job may be several points).
 */
export function jobName(job: Job, links: readonly SweepLink[] = [], showSigma = false): string {
  return nameOf(
    job,
    links.filter((l) => l.jobId === job.id),
    showSigma,
  );
}

/** jobName with the job's own links already picked out. */
function nameOf(job: Job, mine: readonly SweepLink[], showSigma: boolean): string {
  const spec = job.spec!;
  const kind = kindName(spec.kind);
  const epsilons = [...new Set(mine.map((l) => l.labels.epsilon).filter((e) => e !== undefined))];
  const batch = mine.map((l) => l.labels.batch).find((b) => b !== undefined);
  const parts: string[] = [kind];
  if (spec.removals > 0) parts.push(`S=${spec.removals}`);
  if (epsilons.length > 0) parts.push(`ε=${epsilons.map(fmt).join("/")}`);
  if (batch !== undefined) parts.push(`b=${batch}`);
  if (showSigma && spec.sigma > 0) parts.push(`σ=${fmt(spec.sigma)}`);
  if (kind === "unlearn") parts.push(`K=${spec.steps}`);
  else if (kind.startsWith("d2d")) parts.push(`I=${spec.steps}`);
  else parts.push(`${spec.steps} steps`);
  return parts.join(" ");
}

/** Names of every job of a plan; σ is shown only when the plan's jobs use more than one. */
export function jobNames(jobs: readonly Job[], links: readonly SweepLink[]): Map<string, string> {
  const sigmas = new Set(jobs.map((j) => j.spec!.sigma).filter((s) => s > 0));
  // Links grouped by job once: a 10,000-job plan is not scanned once per job.
  const byJob = new Map<string, SweepLink[]>();
  for (const l of links) {
    const list = byJob.get(l.jobId);
    if (list) list.push(l);
    else byJob.set(l.jobId, [l]);
  }
  return new Map(jobs.map((j) => [j.id, nameOf(j, byJob.get(j.id) ?? [], sigmas.size > 1)]));
}

/**
 * Exponentially smoothed rate of a growing counter: the increase and the time elapsed are both summed
 * with weights that decay with age (time constant tauMs), and the rate is their ratio. Early in a run it
 * is the plain average since the first sample (no bias toward a first noisy sample); later a sample a
 * second long moves it by about 1/30 of the difference.
 */
export class SmoothedRate {
  private last: { t: number; value: number } | null = null;
  private steps = 0;
  private ms = 0;

  constructor(
    private readonly tauMs = SMOOTHING_MS,
    private readonly minSpanMs = SAMPLE_MS,
  ) {}

  /** Feeds the counter's value at time t (ms); `scale` divides the increase (e.g. jobs sharing it). */
  sample(t: number, value: number, scale = 1): void {
    if (!this.last) {
      this.last = { t, value };
      return;
    }
    const span = t - this.last.t;
    if (span < this.minSpanMs) return;
    const decay = Math.exp(-span / this.tauMs);
    this.steps = this.steps * decay + (value - this.last.value) / Math.max(1, scale);
    this.ms = this.ms * decay + span;
    this.last = { t, value };
  }

  /** Per second; null until two samples a span apart were seen. */
  get value(): number | null {
    return this.ms > 0 ? (this.steps * 1000) / this.ms : null;
  }
}

interface Live {
  job: Job;
  stepsDone: number;
}

/** Follows the scheduler's events and makes SweepProgress snapshots. */
export class ProgressTracker {
  private readonly live = new Map<string, Live>();
  private readonly pending: Set<string>;
  private paths: Map<string, number>;
  private readonly byId: Map<string, Job>;
  private readonly total = new SmoothedRate();
  private readonly perJob = new SmoothedRate();
  /** steps completed in this run: finished jobs' steps plus running jobs' reported steps */
  private stepsDone = 0;
  private done: number;
  private failed = 0;
  /** steps of the pending jobs, and of those the running ones have reported: the ETA in O(1) */
  private pendingSteps = 0;
  private liveSteps = 0;
  /** pending jobs by remaining path, longest first (stale entries are dropped when met) */
  private longest!: Heap<{ id: string; path: number }>;

  constructor(
    private readonly sweepId: string,
    private readonly jobs: readonly Job[],
    todo: ReadonlySet<string>,
    private readonly names: ReadonlyMap<string, string>,
    private readonly reused: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.pending = new Set(todo);
    this.paths = remainingPaths(jobs, this.pending);
    this.byId = new Map(jobs.map((j) => [j.id, j]));
    for (const id of this.pending) this.pendingSteps += this.byId.get(id)?.spec?.steps ?? 0;
    this.rankPaths();
    this.done = jobs.length - todo.size;
    this.sample();
  }

  started(job: Job): void {
    this.sample();
    this.live.set(job.id, { job, stepsDone: 0 });
  }

  progress(jobId: string, stepsDone: number): void {
    const live = this.live.get(jobId);
    if (!live || stepsDone <= live.stepsDone) return;
    this.stepsDone += stepsDone - live.stepsDone;
    this.liveSteps += stepsDone - live.stepsDone;
    live.stepsDone = stepsDone;
  }

  /** A job ended: `ok` counts its remaining steps as done; a failure or a skip removes them. */
  finished(job: Job, ok: boolean): void {
    // A sample before the running set changes, so the per-job rate divides by the jobs that ran.
    this.sample();
    const live = this.live.get(job.id);
    this.live.delete(job.id);
    this.liveSteps -= live?.stepsDone ?? 0;
    if (!this.pending.delete(job.id)) return;
    this.pendingSteps -= job.spec!.steps;
    this.done++;
    if (ok) {
      this.stepsDone += job.spec!.steps - (live?.stepsDone ?? 0);
    } else {
      this.failed++;
      this.paths = remainingPaths(this.jobs, this.pending);
      this.rankPaths();
    }
  }

  /** A job that will not run now (the run stopped): it leaves the running list, and stays to do. */
  abandoned(jobId: string): void {
    this.liveSteps -= this.live.get(jobId)?.stepsDone ?? 0;
    this.live.delete(jobId);
    // Pending and not running again: back among the paths (it was dropped from them while it ran).
    if (this.pending.has(jobId)) this.longest.push({ id: jobId, path: this.pathOf(jobId) });
  }

  private pathOf(id: string): number {
    return this.paths.get(id) ?? this.byId.get(id)?.spec?.steps ?? 0;
  }

  private rankPaths(): void {
    this.longest = new Heap((a, b) => a.path > b.path);
    for (const id of this.pending) if (!this.live.has(id)) this.longest.push({ id, path: this.pathOf(id) });
  }

  /**
   * The longest chain of steps left: a running job's path less its reported steps, or the longest
   * path of a pending job not running (the heap's first: entries of jobs that ended or run are
   * dropped when met, and an abandoned job is pushed back).
   */
  private criticalSteps(): number {
    let critical = 0;
    for (const { job, stepsDone } of this.live.values())
      critical = Math.max(critical, this.pathOf(job.id) - stepsDone);
    for (let top = this.longest.peek(); top; top = this.longest.peek()) {
      if (this.pending.has(top.id) && !this.live.has(top.id)) return Math.max(critical, top.path);
      this.longest.pop();
    }
    return critical;
  }

  private sample(): void {
    // The rates start at the first step done: loading the data and the engines is not a rate of steps
    // (counting it made the first ETAs of a run several times too long).
    if (this.stepsDone === 0) return;
    const t = this.now();
    this.total.sample(t, this.stepsDone);
    // One job's rate: the increase shared among the jobs that ran (approximately: those running now).
    this.perJob.sample(t, this.stepsDone, this.live.size);
  }

  /** Seconds left: all remaining steps at the total rate, or the longest remaining chain at one job's rate. */
  private eta(): number | null {
    const rate = this.total.value;
    const one = this.perJob.value;
    if (!rate || rate <= 0) return null;
    const remaining = this.pendingSteps - this.liveSteps;
    const critical = this.criticalSteps();
    const eta = Math.max(remaining / rate, one && one > 0 ? critical / one : 0);
    // Never "0s" while steps remain: a job that has just started still has its whole length to run.
    return remaining > 0 ? Math.max(1, eta) : 0;
  }

  /** The state now; also a sample of the rates (the scheduler asks at least every ~0.5 s while jobs run). */
  snapshot(): SweepProgress {
    this.sample();
    return {
      sweepId: this.sweepId,
      total: this.jobs.length,
      done: this.done,
      reused: this.reused,
      failed: this.failed,
      running: this.live.size,
      stepsPerSecond: this.total.value ?? 0,
      etaSeconds: this.eta(),
      jobs: [...this.live.values()].map(({ job, stepsDone }) => ({
        id: job.id,
        name: this.names.get(job.id) ?? job.id.slice(0, 12),
        stepsDone,
        stepsTotal: job.spec!.steps,
      })),
    };
  }
}
