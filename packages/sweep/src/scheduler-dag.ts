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

/** A binary heap: pop() returns the item `before` ranks first; push and pop cost O(log n). */
export class Heap<T> {
  private readonly items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.items.push(item);
    this.up(this.items.length - 1);
  }

  pop(): T | undefined {
    const top = this.items[0];
    const last = this.items.pop();
    if (this.items.length > 0 && last !== undefined) {
      this.items[0] = last;
      this.down(0);
    }
    return top;
  }

  /** Re-ranks every item after their keys changed in place. */
  reorder(): void {
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  /** Every item, in no particular order. */
  values(): readonly T[] {
    return this.items;
  }

  private up(i: number): void {
    const h = this.items;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(h[i]!, h[parent]!)) return;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < h.length && this.before(h[l]!, h[best]!)) best = l;
      if (r < h.length && this.before(h[r]!, h[best]!)) best = r;
      if (best === i) return;
      [h[i], h[best]] = [h[best]!, h[i]!];
      i = best;
    }
  }
}

interface Ready {
  job: Job;
  priority: number;
  order: number;
}

/**
 * Ready jobs by priority: pop() returns the one with the longest remaining path, ties broken by plan
 * order (so a run is deterministic). A heap, so a 10,000-job plan whose jobs all become ready at once
 * is not scanned once per start.
 */
export class ReadyQueue {
  private readonly heap = new Heap<Ready>(
    (a, b) => a.priority > b.priority || (a.priority === b.priority && a.order < b.order),
  );
  private readonly queued = new Set<string>();
  private readonly order: Map<string, number>;

  constructor(
    jobs: readonly Job[],
    private priority: ReadonlyMap<string, number>,
  ) {
    this.order = new Map(jobs.map((j, i) => [j.id, i]));
  }

  get size(): number {
    return this.heap.size;
  }

  /** New priorities (after a failure removed a subtree); queued jobs are re-ranked. */
  reprioritise(priority: ReadonlyMap<string, number>): void {
    this.priority = priority;
    for (const item of this.heap.values()) item.priority = priority.get(item.job.id) ?? stepsOf(item.job);
    this.heap.reorder();
  }

  push(job: Job): void {
    if (this.queued.has(job.id)) return;
    this.queued.add(job.id);
    const priority = this.priority.get(job.id) ?? stepsOf(job);
    this.heap.push({ job, priority, order: this.order.get(job.id) ?? this.order.size });
  }

  pop(): Job | undefined {
    const top = this.heap.pop();
    if (top) this.queued.delete(top.job.id);
    return top?.job;
  }

  /** Removes and returns every queued job, highest priority first. */
  drain(): Job[] {
    const out: Job[] = [];
    for (let job = this.pop(); job; job = this.pop()) out.push(job);
    return out;
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
