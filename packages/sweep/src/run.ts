/**
 * The embedded coordinator: plans a sweep, stores it, runs what is not stored yet on the local worker
 * pool in DAG order, and writes every result as it arrives. The main thread is the single writer of
 * the database, as the coordinator is in distributed mode.
 *
 * Crash safety: a job's chains are stored before its result, and a result is what marks a job done, so
 * after a kill -9 a rerun of the same config (same sweep id, same job ids) finds every finished job
 * and runs only the rest. A stored result is never rewritten (the store keeps the first).
 */
import * as accountant from "@unlearn/accountant";
import { datasetConstants, loadDataset } from "@unlearn/core";
import { openStore, type Store } from "@unlearn/db";
import { type Job, type JobProgress, type JobResult, JobSpec, kindName } from "@unlearn/protocol";
import type { SweepConfig } from "./config.ts";
import { type DatasetFacts, planSweep, type SweepPlan } from "./planner.ts";
import { defaultWorkers, threadsPerWorker, WorkerPool } from "./pool.ts";

/** n, d, classes and L of the config's dataset (loads it; λ_max is cached by @unlearn/core). */
export async function datasetFacts(config: SweepConfig): Promise<DatasetFacts> {
  const ds = await loadDataset(config.dataset, config.featuresDir ? { featuresDir: config.featuresDir } : {});
  const c = datasetConstants(ds, { lambda: config.lambda, smoothness: config.smoothness });
  return { n: c.n, d: c.d, classes: c.classes, L: c.L };
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
  /** steps per second over the last few seconds, all workers together */
  stepsPerSecond: number;
  /** seconds left at the current rate; null before a rate is known */
  etaSeconds: number | null;
}

export type RunEvent =
  | {
      type: "planned";
      sweepId: string;
      jobs: number;
      reused: number;
      toRun: number;
      workers: number;
      threads: number;
      warnings: string[];
    }
  | { type: "progress"; progress: SweepProgress }
  | { type: "result"; job: Job; result: JobResult }
  | { type: "skipped"; job: Job; reason: string };

export interface RunSweepOptions {
  /** A PGlite directory, "memory://", a postgres:// URL, or an open Store (left open). Default: openStore()'s. */
  db?: string | Store;
  workers?: number;
  /** engine threads per worker (default: cores / workers) */
  threads?: number;
  onEvent?(event: RunEvent): void;
  /** Aborting stops the run: running jobs are abandoned, finished results stay stored. */
  signal?: AbortSignal;
  /** Progress events at most this often (ms). */
  progressEveryMs?: number;
  /** Worker module override (tests). */
  workerEntry?: URL;
  /** The dataset facts, when the caller already has them (skips loading the dataset here). */
  facts?: DatasetFacts;
}

export interface SweepOutcome {
  sweepId: string;
  state: "done" | "failed";
  cancelled: boolean;
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

/** Serialises async work: the store sees one write at a time, in arrival order. */
function serial() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const next = tail.then(fn);
    tail = next.catch(() => {});
    return next;
  };
}

/** Sliding-window rate of steps completed, for the progress line's rate and ETA. */
class RateMeter {
  private samples: { t: number; steps: number }[] = [];
  constructor(private readonly windowMs = 10_000) {}
  add(t: number, steps: number): void {
    this.samples.push({ t, steps });
    while (this.samples.length > 2 && t - this.samples[0]!.t > this.windowMs) this.samples.shift();
  }
  rate(): number {
    if (this.samples.length < 2) return 0;
    const first = this.samples[0]!;
    const last = this.samples[this.samples.length - 1]!;
    return last.t > first.t ? ((last.steps - first.steps) * 1000) / (last.t - first.t) : 0;
  }
}

export async function runSweep(config: SweepConfig, options: RunSweepOptions = {}): Promise<SweepOutcome> {
  const started = performance.now();
  const facts = options.facts ?? (await datasetFacts(config));
  const plan = planSweep(config, facts, accountant);
  const { sweepId, jobs } = plan;
  const ownStore = typeof options.db !== "object";
  const store = typeof options.db === "object" ? options.db : await openStore(options.db);
  const write = serial();
  let pool: WorkerPool | undefined;
  try {
    await store.createSweep({
      id: sweepId,
      name: config.name,
      figure: config.figure,
      config,
      seed: String(config.seed),
    });
    await store.upsertJobs(
      jobs.map((j) => ({
        id: j.id,
        kind: kindName(j.spec!.kind),
        spec: JobSpec.toJSON(j.spec!),
        parentId: j.spec!.parentId,
      })),
    );
    await store.linkSweepJobs(sweepId, plan.links);
    await store.setSweepState(sweepId, "running");

    const byId = new Map(jobs.map((j) => [j.id, j]));
    const done = await store.doneJobIds(jobs.map((j) => j.id));
    const children = new Map<string, Job[]>();
    for (const j of jobs) {
      const p = j.spec!.parentId;
      if (p) children.set(p, [...(children.get(p) ?? []), j]);
    }
    // A finished parent whose chains went missing must run again for its pending children (and so on
    // up the chain: a Set's iteration visits the ids added during it).
    const todo = new Set(jobs.filter((j) => !done.has(j.id)).map((j) => j.id));
    for (const id of todo) {
      const p = byId.get(id)!.spec!.parentId;
      if (p && done.has(p) && !(await store.getArtifact(p))) {
        done.delete(p);
        todo.add(p);
      }
    }
    const reused = jobs.length - todo.size;
    const workers = Math.max(1, Math.min(options.workers ?? defaultWorkers(), todo.size));
    const threads = options.threads ?? threadsPerWorker(workers);
    options.onEvent?.({
      type: "planned",
      sweepId,
      jobs: jobs.length,
      reused,
      toRun: todo.size,
      workers,
      threads,
      warnings: plan.warnings,
    });
    await store.appendEvent({
      sweepId,
      type: "planned",
      payload: { jobs: jobs.length, reused, toRun: todo.size },
    });

    let failed = 0;
    let ran = 0;
    let cancelled = false;
    const stepsOf = (id: string) => byId.get(id)!.spec!.steps;
    let stepsFinished = 0;
    const live = new Map<string, number>();
    const totalSteps = [...todo].reduce((s, id) => s + stepsOf(id), 0);
    const meter = new RateMeter();
    const progressEvery = options.progressEveryMs ?? 500;
    let lastProgress = 0;
    const stepsNow = () => stepsFinished + [...live.values()].reduce((a, b) => a + b, 0);
    const emitProgress = (force = false) => {
      const t = performance.now();
      meter.add(t, stepsNow());
      if (!force && t - lastProgress < progressEvery) return;
      lastProgress = t;
      const rate = meter.rate();
      options.onEvent?.({
        type: "progress",
        progress: {
          sweepId,
          total: jobs.length,
          done: jobs.length - todo.size,
          reused,
          failed,
          // live also holds jobs queued in the pool: at most `workers` of them are running.
          running: Math.min(live.size, workers),
          stepsPerSecond: rate,
          etaSeconds: rate > 0 ? Math.max(0, totalSteps - stepsNow()) / rate : null,
        },
      });
    };

    const finish = (state: "done" | "failed"): SweepOutcome => ({
      sweepId,
      state,
      cancelled,
      jobs: jobs.length,
      reused,
      ran,
      failed,
      notRun: todo.size,
      wallMs: performance.now() - started,
      plan,
      location: store.location,
    });

    if (todo.size === 0) {
      await store.setSweepState(sweepId, "done");
      return finish("done");
    }

    pool = new WorkerPool({
      workers,
      threads,
      entry: options.workerEntry,
      onProgress: (p: JobProgress) => {
        if (live.has(p.jobId)) live.set(p.jobId, p.stepsDone);
        emitProgress();
      },
    });
    const activePool = pool;
    const onAbort = () => {
      cancelled = true;
      void activePool.close();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();

    // Chains of finished parents that pending children still need, kept until the last child starts.
    const artifacts = new Map<string, Float32Array>();
    const parentChains = async (id: string): Promise<Float32Array | undefined> => {
      let W = artifacts.get(id);
      if (!W) {
        const bytes = await store.getArtifact(id);
        if (!bytes) return undefined;
        W = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        artifacts.set(id, W);
      }
      if ((children.get(id) ?? []).every((c) => !todo.has(c.id) || live.has(c.id))) artifacts.delete(id);
      return W;
    };

    const inFlight = new Set<Promise<void>>();
    const failSubtree = async (job: Job, reason: string) => {
      for (const child of children.get(job.id) ?? []) {
        if (!todo.has(child.id)) continue;
        todo.delete(child.id);
        failed++;
        const why = `not run: ${reason}`;
        options.onEvent?.({ type: "skipped", job: child, reason: why });
        await write(() => store.setJobState(child.id, "failed", { error: why }));
        await failSubtree(child, reason);
      }
    };

    const start = (job: Job): void => {
      live.set(job.id, 0);
      const task = (async () => {
        await write(() => store.setJobState(job.id, "running"));
        const parentId = job.spec!.parentId;
        const parent = parentId ? await parentChains(parentId) : undefined;
        const { result, artifact } = await activePool.run(job, parent);
        live.delete(job.id);
        if (cancelled) return;
        if (result.ok && artifact) {
          await write(async () => {
            const bytes = new Uint8Array(artifact.W.buffer, artifact.W.byteOffset, artifact.W.byteLength);
            await store.putArtifact(result.artifactKey || job.id, bytes, {
              shape: artifact.shape,
              dtype: "float32",
            });
            await store.saveResult(result);
            await store.appendEvent({
              sweepId,
              jobId: job.id,
              type: "result",
              payload: {
                ok: true,
                wallMs: result.wallMs,
                msPerStep: result.msPerStep,
                worker: result.worker,
              },
            });
          });
          todo.delete(job.id);
          done.add(job.id);
          ran++;
          stepsFinished += job.spec!.steps;
          // Children get the chains straight from memory, not back from the database; jobs without
          // pending children keep nothing in memory (a Figure 3b sweep has hundreds of jobs).
          if ((children.get(job.id) ?? []).some((c) => todo.has(c.id))) artifacts.set(job.id, artifact.W);
        } else {
          await write(async () => {
            await store.saveResult({
              ...result,
              ok: false,
              error: result.error || "failed without an error message",
            });
            await store.appendEvent({
              sweepId,
              jobId: job.id,
              type: "failed",
              payload: { error: result.error },
            });
          });
          todo.delete(job.id);
          failed++;
          await failSubtree(job, `parent ${job.id.slice(0, 12)} failed: ${result.error}`);
        }
        options.onEvent?.({ type: "result", job, result });
        emitProgress(true);
        for (const child of children.get(job.id) ?? [])
          if (todo.has(child.id) && !live.has(child.id)) start(child);
      })();
      const tracked = task.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    };

    for (const job of jobs) {
      if (!todo.has(job.id)) continue;
      const p = job.spec!.parentId;
      if (!p || done.has(p)) start(job);
    }
    while (inFlight.size > 0) await Promise.all([...inFlight]);
    options.signal?.removeEventListener("abort", onAbort);
    emitProgress(true);

    const state = failed > 0 || cancelled || todo.size > 0 ? "failed" : "done";
    if (cancelled) await write(() => store.appendEvent({ sweepId, type: "cancelled" }));
    await write(() => store.setSweepState(sweepId, state));
    await write(() => store.appendEvent({ sweepId, type: "done", payload: { state, ran, reused, failed } }));
    return finish(state);
  } finally {
    await pool?.close();
    if (ownStore) await store.close();
  }
}
