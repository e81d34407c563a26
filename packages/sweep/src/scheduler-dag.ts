/**
 * The scheduler's view of a plan's DAG, pure: children, the priority of a job (its longest remaining
 * path), a ready queue that hands out the highest priority first, and a simulation of the makespan this
 * policy gives on N workers (`pnpm bench:cluster` and the README's scale-out table use it).
 *
 * Why longest remaining path first: a sweep's wall time is bounded below by its critical path (Figure 5:
 * learn 10000 steps → unlearn K ≤ 4921). Starting the job that heads the longest pending chain first
 * keeps that chain moving while shorter independent jobs (the retrainings) fill the other workers; FIFO
 * in plan order can leave the long chain waiting behind them.
 */
import type { Job } from "@unlearn/protocol";

const stepsOf = (job: Job): number => job.spec?.steps ?? 0;
const parentOf = (job: Job): string => job.spec?.parentId ?? "";

/** Each job's children (jobs whose spec.parentId is it), in plan order. */
export function childrenOf(jobs: readonly Job[]): Map<string, Job[]> {
  const children = new Map<string, Job[]>();
  for (const job of jobs) {
    const parent = parentOf(job);
    if (!parent) continue;
    const list = children.get(parent);
    if (list) list.push(job);
    else children.set(parent, [job]);
  }
  return children;
}

/**
 * The remaining path of every pending job: its steps plus the longest remaining path among its pending
 * children. `jobs` must be in topological order (the planner's), so one reverse pass suffices.
 */
export function remainingPaths(jobs: readonly Job[], pending: ReadonlySet<string>): Map<string, number> {
  const children = childrenOf(jobs);
  const path = new Map<string, number>();
  for (let i = jobs.length - 1; i >= 0; i--) {
    const job = jobs[i]!;
    if (!pending.has(job.id)) continue;
    let longest = 0;
    for (const child of children.get(job.id) ?? []) longest = Math.max(longest, path.get(child.id) ?? 0);
    path.set(job.id, stepsOf(job) + longest);
  }
  return path;
}

/** The longest chain of steps through the pending jobs (all jobs when `pending` is omitted). */
export function criticalPath(jobs: readonly Job[], pending?: ReadonlySet<string>): number {
  const paths = remainingPaths(jobs, pending ?? new Set(jobs.map((j) => j.id)));
  let longest = 0;
  for (const p of paths.values()) longest = Math.max(longest, p);
  return longest;
}

/**
 * Ready jobs by priority: pop() returns the one with the longest remaining path, ties broken by plan
 * order (so a run is deterministic). Linear scans: a plan has at most a few hundred jobs.
 */
export class ReadyQueue {
  private readonly items: { job: Job; priority: number; order: number }[] = [];
  private readonly order: Map<string, number>;

  constructor(
    jobs: readonly Job[],
    private priority: ReadonlyMap<string, number>,
  ) {
    this.order = new Map(jobs.map((j, i) => [j.id, i]));
  }

  get size(): number {
    return this.items.length;
  }

  /** New priorities (after a failure removed a subtree); queued jobs are re-ranked. */
  reprioritise(priority: ReadonlyMap<string, number>): void {
    this.priority = priority;
    for (const item of this.items) item.priority = priority.get(item.job.id) ?? stepsOf(item.job);
  }

  push(job: Job): void {
    if (this.items.some((i) => i.job.id === job.id)) return;
    const priority = this.priority.get(job.id) ?? stepsOf(job);
    this.items.push({ job, priority, order: this.order.get(job.id) ?? this.order.size });
  }

  pop(): Job | undefined {
    if (this.items.length === 0) return undefined;
    let best = 0;
    for (let i = 1; i < this.items.length; i++) {
      const a = this.items[i]!;
      const b = this.items[best]!;
      if (a.priority > b.priority || (a.priority === b.priority && a.order < b.order)) best = i;
    }
    return this.items.splice(best, 1)[0]!.job;
  }

  /** Removes and returns every queued job. */
  drain(): Job[] {
    return this.items.splice(0).map((i) => i.job);
  }
}

export interface MakespanEstimate {
  workers: number;
  /** wall time in steps (one job runs one step per unit of time on one worker) */
  makespan: number;
  /** the longest chain of steps: no number of workers does better */
  criticalPath: number;
  /** all steps of the plan: one worker needs exactly this */
  totalSteps: number;
}

/**
 * The makespan of `jobs` on `workers` identical workers under the scheduler's policy (longest remaining
 * path first, a job ready when its parent finished), by event simulation. Time is in steps: multiply by
 * the measured seconds per step for a wall time. Jobs whose parent is not in `jobs` count as ready.
 */
export function simulateMakespan(jobs: readonly Job[], workers: number): MakespanEstimate {
  if (!Number.isInteger(workers) || workers < 1)
    throw new RangeError(`workers must be an integer ≥ 1, got ${workers}`);
  const ids = new Set(jobs.map((j) => j.id));
  const priority = remainingPaths(jobs, ids);
  const children = childrenOf(jobs);
  const ready = new ReadyQueue(jobs, priority);
  for (const job of jobs) if (!ids.has(parentOf(job))) ready.push(job);
  const running: { job: Job; end: number }[] = [];
  let now = 0;
  while (ready.size > 0 || running.length > 0) {
    while (running.length < workers && ready.size > 0) {
      const job = ready.pop()!;
      running.push({ job, end: now + stepsOf(job) });
    }
    now = Math.min(...running.map((r) => r.end));
    for (let i = running.length - 1; i >= 0; i--) {
      if (running[i]!.end !== now) continue;
      const [{ job }] = running.splice(i, 1) as [{ job: Job; end: number }];
      for (const child of children.get(job.id) ?? []) ready.push(child);
    }
  }
  const totalSteps = jobs.reduce((s, j) => s + stepsOf(j), 0);
  return { workers, makespan: now, criticalPath: criticalPath(jobs), totalSteps };
}
