/**
 * `runSweep`: plans a sweep, registers it in the store, and runs what is not stored yet through the
 * scheduler (scheduler.ts) on a Dispatcher: local worker threads unless the caller passes one (the
 * cluster's NATS dispatcher). The process that calls it is the single writer of the database, as the
 * coordinator is in the cluster mode.
 *
 * Crash safety: a job's chains are stored before its result, and a result is what marks a job done, so
 * after a kill -9 a rerun of the same config (same sweep id, same job ids) finds every finished job
 * and runs only the rest. A stored result is never rewritten (the store keeps the first).
 *
 * Stopping: an abort (Ctrl-C) or a store error ends the run with the sweep stored as "interrupted"
 * (with the error, for a store error); jobs not finished stay pending, and nothing is written after
 * runSweep returns.
 */
import { datasetConstants, featuresKey, loadDataset } from "@unlearn/core";
import { openStore, type Store } from "@unlearn/db";
import { JobSpec, kindName } from "@unlearn/protocol";
import type { SweepConfig } from "./config.ts";
import type { Dispatcher } from "./dispatcher.ts";
import { planSweepAsync } from "./plan-thread.ts";
import type { DatasetFacts, SweepPlan } from "./planner.ts";
import { defaultWorkers, ThreadDispatcher, threadsPerWorker } from "./pool.ts";
import { type RunEvent, Scheduler, type SchedulerOutcome } from "./scheduler.ts";
import { jobNames } from "./scheduler-progress.ts";

export type { RunEvent } from "./scheduler.ts";
export type { RunningJob, SweepProgress } from "./scheduler-progress.ts";

/**
 * n, d, classes and L of the config's dataset (loads it; λ_max is cached by @unlearn/core), and for a
 * features folder its content key, so jobs are keyed by what the files hold, not where they lie.
 */
export async function datasetFacts(config: SweepConfig): Promise<DatasetFacts> {
  const ds = await loadDataset(config.dataset, config.featuresDir ? { featuresDir: config.featuresDir } : {});
  const c = datasetConstants(ds, { lambda: config.lambda, smoothness: config.smoothness });
  const facts: DatasetFacts = { n: c.n, d: c.d, classes: c.classes, L: c.L };
  if (config.featuresDir) facts.featuresKey = await featuresKey(config.featuresDir);
  return facts;
}

export interface RunSweepOptions {
  /** A PGlite directory, "memory://", a postgres:// URL, or an open Store (left open). Default: openStore()'s. */
  db?: string | Store;
  /**
   * Where jobs run. Default: a ThreadDispatcher of `workers` local threads, closed by runSweep. A
   * caller's dispatcher is closed by runSweep only to abandon running jobs when the run stops early;
   * otherwise the caller closes it.
   */
  dispatcher?: Dispatcher;
  /** worker threads of the default dispatcher (default: one per two cores, at most the jobs to run) */
  workers?: number;
  /** engine threads per worker (default: cores / workers) */
  threads?: number;
  /**
   * Job fusion's width of the default dispatcher, in columns of W (0 or 1: no fusion). Default:
   * UNLEARN_BATCH_COLUMNS when set, else each engine's own (@unlearn/core's batchColumns).
   */
  batchColumns?: number;
  onEvent?(event: RunEvent): void;
  /** Aborting stops the run: running jobs are abandoned, finished results stay stored. */
  signal?: AbortSignal;
  /** Step-progress events at most this often (ms); job starts and ends are always reported. */
  progressEveryMs?: number;
  /** Worker module override (tests). */
  workerEntry?: URL;
  /** The dataset facts, when the caller already has them (skips loading the dataset here). */
  facts?: DatasetFacts;
  /** When no job of this sweep needs a finished job's chains any more (the cluster frees its bucket copy). */
  onChainsFreed?(jobId: string): void;
}

export interface SweepOutcome {
  sweepId: string;
  /** "interrupted": stopped by an abort or a store error before every job was done */
  state: "done" | "failed" | "interrupted";
  /** stopped by the abort signal */
  cancelled: boolean;
  /** why the run stopped early (a store error), when it did */
  error?: string;
  /** distinct jobs of the sweep */
  jobs: number;
  reused: number;
  ran: number;
  /** jobs that failed, or were not run because a job they start from failed */
  failed: number;
  /** jobs left unrun by an interruption */
  notRun: number;
  wallMs: number;
  plan: SweepPlan;
  /** where the results are (masked URL for Postgres) */
  location: string;
}

/** Stores the sweep, its jobs and its links, and marks it running (owned by this process). */
export async function registerSweep(store: Store, config: SweepConfig, plan: SweepPlan): Promise<void> {
  await store.createSweep({
    id: plan.sweepId,
    name: config.name,
    figure: config.figure,
    config,
    seed: String(config.seed),
  });
  await store.upsertJobs(
    plan.jobs.map((j) => ({
      id: j.id,
      kind: kindName(j.spec!.kind),
      spec: JobSpec.toJSON(j.spec!),
      parentId: j.spec!.parentId,
      // --keep-chains: the commit stores these jobs' chains although no job starts from them.
      keepChains: config.keepChains,
    })),
  );
  await store.linkSweepJobs(plan.sweepId, plan.links);
  await store.setSweepState(plan.sweepId, "running");
}

/**
 * The jobs to run: those without a stored result, plus any finished parent whose chains went missing
 * and that a pending child needs (and so on up the chain: a Set's iteration visits ids added during it).
 * Existence only: no artifact is read here.
 */
async function pendingJobs(store: Store, plan: SweepPlan): Promise<Set<string>> {
  const ids = plan.jobs.map((j) => j.id);
  const done = await store.doneJobIds(ids);
  const parentOf = new Map(plan.jobs.map((j) => [j.id, j.spec!.parentId]));
  const parents = [...new Set(plan.jobs.map((j) => j.spec!.parentId).filter((p) => p && done.has(p)))];
  const stored = await store.hasArtifacts(parents);
  const todo = new Set(ids.filter((id) => !done.has(id)));
  for (const id of todo) {
    const p = parentOf.get(id);
    if (p && done.has(p) && !stored.has(p)) {
      done.delete(p);
      todo.add(p);
    }
  }
  return todo;
}

/** The sweep's end in the store. A failing store here does not throw: the outcome carries the error. */
async function recordEnd(store: Store, sweepId: string, r: SchedulerOutcome, reused: number, wallMs: number) {
  const stopped = r.cancelled || r.error !== undefined;
  const state = stopped ? "interrupted" : r.failed > 0 ? "failed" : "done";
  try {
    for (const id of r.abandoned) await store.setJobState(id, "pending");
    if (stopped)
      await store.appendEvent({
        sweepId,
        type: r.error ? "store-error" : "cancelled",
        payload: r.error ? { error: r.error } : undefined,
      });
    const why = r.error ?? (r.cancelled ? "interrupted (Ctrl-C or SIGTERM)" : `${r.failed} job(s) failed`);
    await store.setSweepState(sweepId, state, state === "done" ? undefined : { error: why });
    await store.appendEvent({
      sweepId,
      type: "done",
      payload: { state, ran: r.ran, reused, failed: r.failed, wallMs: Math.round(wallMs) },
    });
    return { state, error: r.error } as const;
  } catch (error) {
    const message = `store error while recording the end: ${(error as Error).message}`;
    return { state: "interrupted", error: r.error ? `${r.error}; ${message}` : message } as const;
  }
}

/** The embedded mode's dispatcher: `workers` threads (default one per two cores), at most one per job. */
function threadDispatcher(options: RunSweepOptions, jobs: number): ThreadDispatcher {
  const workers = Math.max(1, Math.min(options.workers ?? defaultWorkers(), jobs));
  const threads = options.threads ?? threadsPerWorker(workers);
  return new ThreadDispatcher({
    workers,
    threads,
    entry: options.workerEntry,
    batchColumns: options.batchColumns,
  });
}

export async function runSweep(config: SweepConfig, options: RunSweepOptions = {}): Promise<SweepOutcome> {
  const started = performance.now();
  const facts = options.facts ?? (await datasetFacts(config));
  // A large plan is made on a thread: the caller's event loop (a coordinator's RPCs) keeps running.
  const plan = await planSweepAsync(config, facts);
  const ownStore = typeof options.db !== "object";
  const store = typeof options.db === "object" ? options.db : await openStore(options.db);
  let own: ThreadDispatcher | undefined;
  try {
    await registerSweep(store, config, plan);
    const todo = await pendingJobs(store, plan);
    const reused = plan.jobs.length - todo.size;
    const outcome = (o: Partial<SweepOutcome>): SweepOutcome => ({
      sweepId: plan.sweepId,
      state: "done",
      cancelled: false,
      jobs: plan.jobs.length,
      reused,
      ran: 0,
      failed: 0,
      notRun: 0,
      wallMs: performance.now() - started,
      plan,
      location: store.location,
      ...o,
    });
    own = options.dispatcher || todo.size === 0 ? undefined : threadDispatcher(options, todo.size);
    const dispatcher = options.dispatcher ?? own;
    const workers = dispatcher?.capacity ?? 0;
    const threads = own?.threads ?? options.threads ?? 0;
    const toRun = todo.size;
    const planned = { sweepId: plan.sweepId, jobs: plan.jobs.length, reused, toRun, workers, threads };
    options.onEvent?.({ type: "planned", ...planned, warnings: plan.warnings });
    await store.appendEvent({
      sweepId: plan.sweepId,
      type: "planned",
      payload: { jobs: plan.jobs.length, reused, toRun },
    });
    if (!dispatcher) {
      await store.setSweepState(plan.sweepId, "done");
      return outcome({});
    }
    const result = await new Scheduler({
      plan,
      store,
      dispatcher,
      todo,
      classes: facts.classes,
      names: jobNames(plan.jobs, plan.links),
      reused,
      signal: options.signal,
      onEvent: options.onEvent,
      progressEveryMs: options.progressEveryMs,
      onChainsFreed: options.onChainsFreed,
    }).run();
    // The threads must be gone before the end is recorded: nothing of this run outlives it.
    await own?.close();
    const end = await recordEnd(store, plan.sweepId, result, reused, performance.now() - started);
    const { ran, failed, cancelled, notRun } = result;
    return outcome({ ...end, ran, failed, cancelled, notRun, wallMs: performance.now() - started });
  } finally {
    await own?.close();
    if (ownStore) await store.close();
  }
}
