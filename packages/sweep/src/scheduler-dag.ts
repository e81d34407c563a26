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
  /** false once popped (by the queue or its group): the other heap skips it */
  live: boolean;
}

/** What job fusion packs by: jobs with the same key may share a column batch. */
export interface Packing {
  /** the batch's width in columns of W; 0 or 1: no fusion */
  width(job: Job): number;
  /** a job's columns of W: chains, × classes for multiclass */
  columns(job: Job): number;
  /** jobs with equal keys can be fused (same dataset, features, engine and device) */
  key(job: Job): string;
}

/** The fusion key: the dataset (and its features), the engine and the device. */
export const fusionKey = (job: Job): string =>
  [job.spec?.dataset ?? "", job.spec?.featuresPath ?? "", job.engine, job.device].join("\u0000");

/** A job's columns of W: its chains, times the classes when there are more than two. */
export const jobColumns = (job: Job, classes: number): number =>
  (job.spec?.chains ?? 1) * (classes > 2 ? classes : 1);

/**
 * Job fusion's packing, pure: `ordered` is ready jobs in priority order; the batch is its first job
 * plus, in that order, each further job with the same key that still fits in the first job's width
 * (columns summed). A job wider than the width runs alone and never joins; a width of 0 or 1 packs
 * nothing; jobs in `alone` (a failed batch's jobs, retried unfused) neither lead a batch nor join one.
 */
export function packBatch(
  ordered: readonly Job[],
  packing: Packing,
  alone: ReadonlySet<string> = new Set(),
): Job[] {
  const head = ordered[0];
  if (!head) return [];
  const width = packing.width(head);
  let used = packing.columns(head);
  if (width <= 1 || used >= width || alone.has(head.id)) return [head];
  const key = packing.key(head);
  const batch = [head];
  for (let i = 1; i < ordered.length && used < width; i++) {
    const job = ordered[i]!;
    if (alone.has(job.id) || packing.key(job) !== key) continue;
    const cols = packing.columns(job);
    if (used + cols > width) continue;
    batch.push(job);
    used += cols;
  }
  return batch;
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
  private readonly before = (a: Ready, b: Ready) =>
    a.priority > b.priority || (a.priority === b.priority && a.order < b.order);
  /** by fusion key, when a Packing is given: the same items, so a batch's mates are found fast */
  private readonly groups = new Map<string, Heap<Ready>>();

  constructor(
    jobs: readonly Job[],
    private priority: ReadonlyMap<string, number>,
    private readonly packing?: Packing,
  ) {
    this.order = new Map(jobs.map((j, i) => [j.id, i]));
  }

  get size(): number {
    return this.queued.size;
  }

  /** New priorities (after a failure removed a subtree); queued jobs are re-ranked. */
  reprioritise(priority: ReadonlyMap<string, number>): void {
    this.priority = priority;
    for (const item of this.heap.values()) item.priority = priority.get(item.job.id) ?? stepsOf(item.job);
    this.heap.reorder();
    for (const group of this.groups.values()) group.reorder();
  }

  push(job: Job): void {
    if (this.queued.has(job.id)) return;
    this.queued.add(job.id);
    const priority = this.priority.get(job.id) ?? stepsOf(job);
    const item: Ready = { job, priority, order: this.order.get(job.id) ?? this.order.size, live: true };
    this.heap.push(item);
    if (!this.packing) return;
    const key = this.packing.key(job);
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = new Heap<Ready>(this.before)));
    group.push(item);
  }

  pop(): Job | undefined {
    const top = popLive(this.heap);
    if (top) this.take(top);
    return top?.job;
  }

  /**
   * The next batch (job fusion): the highest-priority job and its mates by packBatch, each popped;
   * without a Packing, the highest-priority job alone. `alone`: jobs that must run unfused.
   */
  popBatch(alone: ReadonlySet<string> = new Set()): Job[] {
    const head = this.pop();
    if (!head) return [];
    const packing = this.packing;
    if (!packing) return [head];
    const width = packing.width(head);
    if (width <= 1 || alone.has(head.id) || packing.columns(head) >= width) return [head];
    // Candidates in priority order from the head's group, until they could fill the width (a few
    // that do not fit are scanned past, at most MAX_SCAN); those not packed go back.
    const group = this.groups.get(packing.key(head))!;
    const candidates: Ready[] = [];
    let columns = packing.columns(head);
    while (columns < width && candidates.length < MAX_SCAN) {
      const item = popLive(group);
      if (!item) break;
      candidates.push(item);
      const cols = packing.columns(item.job);
      if (!alone.has(item.job.id) && columns + cols <= width) columns += cols;
    }
    const batch = packBatch([head, ...candidates.map((c) => c.job)], packing, alone);
    const chosen = new Set(batch.map((j) => j.id));
    for (const item of candidates) {
      if (chosen.has(item.job.id)) this.take(item);
      else group.push(item);
    }
    return batch;
  }

  private take(item: Ready): void {
    item.live = false;
    this.queued.delete(item.job.id);
  }

  /** Removes and returns every queued job, highest priority first. */
  drain(): Job[] {
    const out: Job[] = [];
    for (let job = this.pop(); job; job = this.pop()) out.push(job);
    return out;
  }
}

/** How many of a group's queued jobs one popBatch looks at, at most. */
const MAX_SCAN = 1024;

/** Pops the first item still live (items popped through the other heap are dropped here). */
function popLive(heap: Heap<Ready>): Ready | undefined {
  for (let item = heap.pop(); item; item = heap.pop()) if (item.live) return item;
  return undefined;
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
