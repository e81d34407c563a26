/**
 * The Store: every read and write the coordinator, the sweep runner, the CLI and the dashboard make, written
 * once against Drizzle's PostgreSQL dialect so the PGlite and the postgres-js drivers share it.
 */
import { type JobResult, JobSpec, RESULT_KINDS, type ResultKind, type ResultRow } from "@unlearn/protocol";
import { and, asc, desc, eq, gt, inArray, sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { currentOwner, ownerAlive, type SweepOwner } from "./owner.ts";
import {
  artifacts,
  events,
  JOB_STATES,
  type JobState,
  jobs,
  results,
  SWEEP_STATES,
  type SweepState,
  type schema,
  sweepJobs,
  sweeps,
} from "./schema.ts";

export type { JobState, SweepOwner, SweepState };

export interface StoreShare {
  url: string;
  role: "host" | "client";
  pid: number;
}

export interface SweepInput {
  id: string;
  name: string;
  figure: string;
  config: unknown;
  /** the sweep seed, a uint64 in decimal */
  seed: string;
}

export interface JobInput {
  id: string;
  kind: ResultKind;
  /** the job's JobSpec (an object or its JobSpec.toJSON form); bigint fields are stored as decimal strings */
  spec: unknown;
  parentId: string | null;
}

export interface SweepLabels {
  epsilon?: number | null;
  alpha?: number | null;
  K?: number | null;
  epsilon0?: number | null;
  batch?: number | null;
}

export interface SweepJobLink {
  jobId: string;
  figure: string;
  series: string;
  labels: SweepLabels;
}

export interface SweepSummary {
  id: string;
  name: string;
  figure: string;
  /** as stored, except that a running sweep whose owner is gone reads as interrupted */
  state: SweepState;
  /** why it stopped (interrupted or failed), or null */
  error: string | null;
  /** the process running it while it is running; null otherwise */
  owner: SweepOwner | null;
  createdAt: Date;
  updatedAt: Date;
  /** distinct jobs linked to the sweep */
  jobs: number;
  /** of those, jobs with a stored result */
  done: number;
  /** of those, jobs in state failed without a result */
  failed: number;
}

export interface JobRecord {
  id: string;
  kind: string;
  spec: unknown;
  parentId: string | null;
  state: JobState;
  attempts: number;
  error: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A job linked to a sweep, as the dashboard lists it: the link, the job's state, and its result's run facts. */
export interface SweepJobRecord {
  jobId: string;
  figure: string;
  series: string;
  labels: SweepLabels;
  kind: string;
  spec: unknown;
  state: JobState;
  attempts: number;
  error: string | null;
  updatedAt: Date;
  /** null until a result is stored */
  result: {
    worker: string;
    engine: string;
    msPerStep: number;
    wallMs: number;
    stepsRun: number;
    createdAt: Date;
  } | null;
}

export interface EventRecord {
  id: number;
  sweepId: string;
  jobId: string | null;
  type: string;
  payload: unknown;
  at: Date;
}

export interface Store {
  readonly kind: "pglite" | "postgres";
  /** where the data lives; a postgres URL with its password masked */
  readonly location: string;
  /**
   * For a PGlite directory: the loopback address it is shared at, and whether this process hosts it
   * (opened the files) or is a client of the process `pid` that does. Absent for memory:// and postgres.
   */
  readonly share?: StoreShare;
  createSweep(s: SweepInput): Promise<{ created: boolean }>;
  /**
   * Moves a sweep to `state`. "running" records its owner (this process unless `owner` names another,
   * e.g. a coordinator's client); every other state clears the owner. `error` says why it stopped (kept
   * for interrupted and failed, cleared otherwise).
   */
  setSweepState(id: string, state: SweepState, extra?: { error?: string; owner?: SweepOwner }): Promise<void>;
  upsertJobs(jobs: JobInput[]): Promise<void>;
  linkSweepJobs(sweepId: string, links: SweepJobLink[]): Promise<void>;
  setJobState(jobId: string, state: JobState, extra?: { error?: string; attempt?: number }): Promise<void>;
  doneJobIds(jobIds: string[]): Promise<Set<string>>;
  saveResult(r: JobResult): Promise<{ inserted: boolean }>;
  putArtifact(key: string, bytes: Uint8Array, meta: { shape: number[]; dtype: "float32" }): Promise<void>;
  getArtifact(key: string): Promise<Uint8Array | null>;
  /** Which of `keys` have stored chains (existence only: no artifact bytes are read). */
  hasArtifacts(keys: string[]): Promise<Set<string>>;
  appendEvent(e: { sweepId: string; jobId?: string; type: string; payload?: unknown }): Promise<void>;
  /** A sweep's events in order, those with id > afterId (for polling), at most `limit` (default 1000). */
  listEvents(sweepId: string, options?: { afterId?: number; limit?: number }): Promise<EventRecord[]>;
  /** One job's row, or null when it is not stored. */
  getJob(jobId: string): Promise<JobRecord | null>;
  /** Every sweep, newest first; a running sweep whose owner is gone reads as interrupted. */
  listSweeps(): Promise<SweepSummary[]>;
  /** One sweep (same derivation as listSweeps), or null when it is not stored. */
  getSweep(id: string): Promise<SweepSummary | null>;
  sweepResults(sweepId: string): Promise<ResultRow[]>;
  /** The jobs linked to a sweep, one record per link (a job may be several points), in link order of job id. */
  listSweepJobs(sweepId: string): Promise<SweepJobRecord[]>;
  close(): Promise<void>;
}

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

/** Rows per INSERT / ids per IN (…): far below Postgres' 65535 bind parameters per statement. */
const CHUNK = 1000;
const NATURAL_ORDER = new Intl.Collator("en", { numeric: true });
const LABEL_KEYS = ["epsilon", "alpha", "K", "epsilon0", "batch"] as const;
const UNLEARN_KINDS: ReadonlySet<string> = new Set(["unlearn", "d2d-unlearn"]);

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/** JSON for a jsonb column: bigints (a JobSpec's uint64 seed) become decimal strings, as protobuf JSON writes them. */
function jsonValue(value: unknown, what: string): unknown {
  try {
    return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) ?? "null");
  } catch (error) {
    throw new Error(`${what} is not JSON-serialisable: ${(error as Error).message}`);
  }
}

function requireText(value: unknown, what: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new Error(`${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A string that may be empty (a dependency link's figure is ""). */
function requireString(value: unknown, what: string): string {
  if (typeof value !== "string") throw new Error(`${what} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function requireOneOf<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (!allowed.includes(value as T)) {
    throw new Error(`${what} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function labelsValue(labels: SweepLabels, what: string): SweepLabels {
  if (labels === null || typeof labels !== "object") throw new Error(`${what} must be an object`);
  const out: SweepLabels = {};
  for (const key of Object.keys(labels)) {
    if (!(LABEL_KEYS as readonly string[]).includes(key)) {
      throw new Error(`${what}.${key} is not a label: expected ${LABEL_KEYS.join(", ")}`);
    }
  }
  for (const key of LABEL_KEYS) {
    const v = labels[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new Error(`${what}.${key} must be a finite number or null, got ${JSON.stringify(v)}`);
    }
    out[key] = v;
  }
  return out;
}

/** The SQLSTATE of a driver error, looking through Drizzle's DrizzleQueryError wrapper. */
function sqlState(error: unknown): string | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  }
  return undefined;
}

/** Mean and population standard deviation (ddof = 0, as numpy's std) of the chains' accuracies. */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / values.length) };
}

function labelNumber(labels: unknown, key: (typeof LABEL_KEYS)[number]): number | null {
  const v = labels && typeof labels === "object" ? (labels as Record<string, unknown>)[key] : undefined;
  return typeof v === "number" ? v : null;
}

function ownerColumns(owner: SweepOwner | null) {
  return {
    ownerHost: owner?.host ?? null,
    ownerPid: owner?.pid ?? null,
    ownerStartedAt: owner?.startedAt ?? null,
  };
}

/** The sweeps (all, or the one with `id`) with their job counts, newest first. */
function summaryQuery(db: Db, id?: string) {
  return db
    .select({
      id: sweeps.id,
      name: sweeps.name,
      figure: sweeps.figure,
      state: sweeps.state,
      error: sweeps.error,
      ownerHost: sweeps.ownerHost,
      ownerPid: sweeps.ownerPid,
      ownerStartedAt: sweeps.ownerStartedAt,
      createdAt: sweeps.createdAt,
      updatedAt: sweeps.updatedAt,
      jobs: sql<number>`count(distinct ${sweepJobs.jobId})`.mapWith(Number),
      done: sql<number>`count(distinct ${results.jobId})`.mapWith(Number),
      failed:
        sql<number>`count(distinct case when ${jobs.state} = 'failed' and ${results.jobId} is null then ${jobs.id} end)`.mapWith(
          Number,
        ),
    })
    .from(sweeps)
    .leftJoin(sweepJobs, eq(sweepJobs.sweepId, sweeps.id))
    .leftJoin(jobs, eq(jobs.id, sweepJobs.jobId))
    .leftJoin(results, eq(results.jobId, sweepJobs.jobId))
    .where(id === undefined ? undefined : eq(sweeps.id, id))
    .groupBy(sweeps.id)
    .orderBy(desc(sweeps.createdAt), asc(sweeps.id));
}

type SummaryRow = Awaited<ReturnType<typeof summaryQuery>>[number];

/** A summary row as readers see it: a running sweep whose owner is gone reads as interrupted. */
function summaryOf(row: SummaryRow): SweepSummary {
  const { ownerHost, ownerPid, ownerStartedAt, ...rest } = row;
  const owner =
    row.state === "running" && ownerHost !== null && ownerPid !== null && ownerStartedAt !== null
      ? { host: ownerHost, pid: ownerPid, startedAt: ownerStartedAt }
      : null;
  if (owner && !ownerAlive(owner)) {
    return {
      ...rest,
      state: "interrupted",
      error: `its process ${owner.pid} on ${owner.host} ended without finishing it`,
      owner: null,
    };
  }
  return { ...rest, owner };
}

/** Builds a Store over a migrated Drizzle database; `closeClient` releases the driver's connection(s). */
export function createStore(
  db: Db,
  info: { kind: "pglite" | "postgres"; location: string; share?: StoreShare },
  closeClient: () => Promise<void>,
): Store {
  let closed = false;
  const live = () => {
    if (closed) throw new Error(`store ${info.location} is closed`);
  };

  const store: Store = {
    kind: info.kind,
    location: info.location,
    share: info.share,

    async createSweep(s) {
      live();
      const row = {
        id: requireText(s.id, "sweep id"),
        name: requireText(s.name, `sweep ${s.id}: name`),
        figure: requireString(s.figure, `sweep ${s.id}: figure`),
        config: jsonValue(s.config, `sweep ${s.id}: config`),
        seed: requireText(s.seed, `sweep ${s.id}: seed`),
        // A new sweep is running (the column's default) and owned by this process.
        ...ownerColumns(currentOwner()),
      };
      if (!/^\d+$/.test(row.seed) || BigInt(row.seed) >= 2n ** 64n) {
        throw new Error(`sweep ${s.id}: seed must be a uint64 in decimal, got ${JSON.stringify(s.seed)}`);
      }
      const inserted = await db
        .insert(sweeps)
        .values(row)
        .onConflictDoNothing({ target: sweeps.id })
        .returning({ id: sweeps.id });
      return { created: inserted.length > 0 };
    },

    async setSweepState(id, state, extra) {
      live();
      requireOneOf(state, SWEEP_STATES, `sweep ${id}: state`);
      const stopped = state === "interrupted" || state === "failed";
      const updated = await db
        .update(sweeps)
        .set({
          state,
          ...ownerColumns(state === "running" ? (extra?.owner ?? currentOwner()) : null),
          error: stopped ? (extra?.error ?? null) : null,
          updatedAt: sql`now()`,
        })
        .where(eq(sweeps.id, id))
        .returning({ id: sweeps.id });
      if (updated.length === 0) throw new Error(`setSweepState: unknown sweep "${id}"`);
    },

    async upsertJobs(input) {
      live();
      const rows = input.map((j, i) => ({
        id: requireText(j.id, `jobs[${i}].id`),
        kind: requireOneOf(j.kind, RESULT_KINDS, `jobs[${i}] (${j.id}).kind`),
        spec: jsonValue(j.spec, `jobs[${i}] (${j.id}).spec`),
        parentId: j.parentId === null || j.parentId === undefined || j.parentId === "" ? null : j.parentId,
      }));
      if (rows.length === 0) return;
      // A job id is the hash of its spec, so an existing row already holds the same kind and spec.
      await db.transaction(async (tx) => {
        for (const part of chunks(rows))
          await tx.insert(jobs).values(part).onConflictDoNothing({ target: jobs.id });
      });
    },

    async linkSweepJobs(sweepId, links) {
      live();
      const rows = links.map((l, i) => ({
        sweepId,
        jobId: requireText(l.jobId, `links[${i}].jobId`),
        figure: requireString(l.figure, `links[${i}] (${l.jobId}).figure`),
        series: requireString(l.series, `links[${i}] (${l.jobId}).series`),
        labels: labelsValue(l.labels, `links[${i}] (${l.jobId}).labels`),
      }));
      if (rows.length === 0) return;
      try {
        await db.transaction(async (tx) => {
          for (const part of chunks(rows)) {
            await tx
              .insert(sweepJobs)
              .values(part)
              .onConflictDoNothing({
                target: [sweepJobs.sweepId, sweepJobs.jobId, sweepJobs.series, sweepJobs.point],
              });
          }
        });
      } catch (error) {
        if (sqlState(error) === "23503") {
          throw new Error(
            `linkSweepJobs: sweep "${sweepId}" or one of its ${rows.length} jobs is not stored (createSweep and upsertJobs first)`,
            { cause: error },
          );
        }
        throw error;
      }
    },

    async setJobState(jobId, state, extra) {
      live();
      requireOneOf(state, JOB_STATES, `job ${jobId}: state`);
      if (extra?.attempt !== undefined && !(Number.isInteger(extra.attempt) && extra.attempt >= 0)) {
        throw new Error(`job ${jobId}: attempt must be a non-negative integer, got ${extra.attempt}`);
      }
      const updated = await db
        .update(jobs)
        .set({
          state,
          // An explicit attempt number wins; otherwise each move to "running" counts one attempt.
          attempts:
            extra?.attempt !== undefined
              ? extra.attempt
              : state === "running"
                ? sql`${jobs.attempts} + 1`
                : undefined,
          // A job that ends done carries no error; otherwise keep the last error unless a new one is given.
          error: extra?.error !== undefined ? extra.error : state === "done" ? null : undefined,
          updatedAt: sql`now()`,
        })
        .where(eq(jobs.id, jobId))
        .returning({ id: jobs.id });
      if (updated.length === 0) throw new Error(`setJobState: unknown job "${jobId}"`);
    },

    async doneJobIds(jobIds) {
      live();
      const done = new Set<string>();
      for (const part of chunks([...new Set(jobIds)])) {
        const rows = await db.select({ id: results.jobId }).from(results).where(inArray(results.jobId, part));
        for (const r of rows) done.add(r.id);
      }
      return done;
    },

    async saveResult(r) {
      live();
      const id = requireText(r.jobId, "result jobId");
      if (!r.ok) {
        // A failed run stores no result: the job is marked failed with its error and may be run again.
        await store.setJobState(id, "failed", { error: r.error || "failed without an error message" });
        return { inserted: false };
      }
      const accuracies = Array.from(r.accuracies);
      if (accuracies.length === 0)
        throw new Error(`result ${id}: accuracies is empty (one per chain expected)`);
      const bad = accuracies.findIndex((a) => !(Number.isFinite(a) && a >= 0 && a <= 1));
      if (bad >= 0) throw new Error(`result ${id}: accuracies[${bad}] = ${accuracies[bad]} is not in [0, 1]`);
      for (const field of ["stepsRun", "wallMs", "msPerStep"] as const) {
        if (!Number.isFinite(r[field]) || r[field] < 0) {
          throw new Error(`result ${id}: ${field} must be a finite number ≥ 0, got ${r[field]}`);
        }
      }
      const { mean, std } = meanStd(accuracies);
      try {
        return await db.transaction(async (tx) => {
          const inserted = await tx
            .insert(results)
            .values({
              jobId: id,
              accuracies,
              accuracyMean: mean,
              accuracyStd: std,
              stepsRun: r.stepsRun,
              wallMs: r.wallMs,
              msPerStep: r.msPerStep,
              engine: r.engine,
              worker: r.worker,
              artifactKey: r.artifactKey || null,
            })
            // Redelivered jobs produce duplicates: the first stored result stands.
            .onConflictDoNothing({ target: results.jobId })
            .returning({ id: results.jobId });
          await tx
            .update(jobs)
            .set({ state: "done", error: null, updatedAt: sql`now()` })
            .where(eq(jobs.id, id));
          return { inserted: inserted.length > 0 };
        });
      } catch (error) {
        if (sqlState(error) === "23503") {
          throw new Error(`saveResult: job "${id}" is not stored (upsertJobs first)`, { cause: error });
        }
        throw error;
      }
    },

    async putArtifact(key, bytes, meta) {
      live();
      requireText(key, "artifact key");
      if (!(bytes instanceof Uint8Array)) throw new Error(`artifact ${key}: bytes must be a Uint8Array`);
      requireOneOf(meta.dtype, ["float32"] as const, `artifact ${key}: dtype`);
      if (!meta.shape.every((n) => Number.isInteger(n) && n >= 0)) {
        throw new Error(`artifact ${key}: shape must be non-negative integers, got [${meta.shape}]`);
      }
      const expected = meta.shape.reduce((a, b) => a * b, 1) * 4;
      if (expected !== bytes.byteLength) {
        throw new Error(
          `artifact ${key}: shape [${meta.shape}] of float32 needs ${expected} bytes, got ${bytes.byteLength}`,
        );
      }
      // Artifacts are content of a job id: rewriting one with the same key replaces it (a re-run after loss).
      await db
        .insert(artifacts)
        .values({ key, bytes, shape: meta.shape, dtype: meta.dtype })
        .onConflictDoUpdate({
          target: artifacts.key,
          set: { bytes: sql`excluded.bytes`, shape: sql`excluded.shape`, dtype: sql`excluded.dtype` },
        });
    },

    async getArtifact(key) {
      live();
      const rows = await db.select({ bytes: artifacts.bytes }).from(artifacts).where(eq(artifacts.key, key));
      return rows.length === 0 ? null : rows[0].bytes;
    },

    async hasArtifacts(keys) {
      live();
      const found = new Set<string>();
      for (const part of chunks([...new Set(keys)])) {
        const rows = await db
          .select({ key: artifacts.key })
          .from(artifacts)
          .where(inArray(artifacts.key, part));
        for (const r of rows) found.add(r.key);
      }
      return found;
    },

    async appendEvent(e) {
      live();
      try {
        await db.insert(events).values({
          sweepId: requireText(e.sweepId, "event sweepId"),
          jobId: e.jobId ?? null,
          type: requireText(e.type, "event type"),
          payload: e.payload === undefined ? null : jsonValue(e.payload, `event ${e.type}: payload`),
        });
      } catch (error) {
        if (sqlState(error) === "23503")
          throw new Error(`appendEvent: unknown sweep "${e.sweepId}"`, { cause: error });
        throw error;
      }
    },

    async listEvents(sweepId, options) {
      live();
      const limit = options?.limit ?? 1000;
      if (!(Number.isInteger(limit) && limit > 0))
        throw new Error(`listEvents: limit must be a positive integer`);
      return db
        .select()
        .from(events)
        .where(and(eq(events.sweepId, sweepId), gt(events.id, options?.afterId ?? 0)))
        .orderBy(asc(events.id))
        .limit(limit);
    },

    async getJob(jobId) {
      live();
      const rows = await db.select().from(jobs).where(eq(jobs.id, jobId));
      return rows[0] ?? null;
    },

    async listSweeps() {
      live();
      return (await summaryQuery(db)).map(summaryOf);
    },

    async getSweep(id) {
      live();
      const rows = await summaryQuery(db, id);
      return rows.length === 0 ? null : summaryOf(rows[0]);
    },

    async sweepResults(sweepId) {
      live();
      const exists = await db.select({ id: sweeps.id }).from(sweeps).where(eq(sweeps.id, sweepId));
      if (exists.length === 0) throw new Error(`sweepResults: unknown sweep "${sweepId}"`);
      const rows = await db
        .select({
          jobId: sweepJobs.jobId,
          figure: sweepJobs.figure,
          series: sweepJobs.series,
          labels: sweepJobs.labels,
          kind: jobs.kind,
          spec: jobs.spec,
          accuracies: results.accuracies,
          accuracyMean: results.accuracyMean,
          accuracyStd: results.accuracyStd,
          engine: results.engine,
          wallMs: results.wallMs,
        })
        .from(sweepJobs)
        .innerJoin(jobs, eq(jobs.id, sweepJobs.jobId))
        .innerJoin(results, eq(results.jobId, sweepJobs.jobId))
        .where(eq(sweepJobs.sweepId, sweepId));
      const out = rows.map((r): ResultRow => {
        const spec = JobSpec.fromJSON(r.spec ?? {});
        const kind = requireOneOf(r.kind, RESULT_KINDS, `job ${r.jobId}: kind`);
        const labelK = labelNumber(r.labels, "K");
        return {
          sweep: sweepId,
          job: r.jobId,
          figure: r.figure,
          series: r.series,
          kind,
          dataset: spec.dataset,
          sigma: spec.sigma,
          epsilon: labelNumber(r.labels, "epsilon"),
          removals: spec.removals,
          // K of an unlearning job is its step count unless the planner labelled it otherwise.
          K: labelK ?? (UNLEARN_KINDS.has(kind) ? spec.steps : null),
          alpha: labelNumber(r.labels, "alpha"),
          epsilon0: labelNumber(r.labels, "epsilon0"),
          batch: labelNumber(r.labels, "batch"),
          chains: spec.chains || r.accuracies.length,
          accuracyMean: r.accuracyMean,
          accuracyStd: r.accuracyStd,
          accuracies: r.accuracies,
          engine: r.engine,
          wallMs: r.wallMs,
        };
      });
      // Series in natural order (S=1, S=50, S=100), and within a series the order a figure reads it:
      // along S, ε, σ and the sequential batches.
      const num = (v: number | null) => v ?? Number.NEGATIVE_INFINITY;
      const text = NATURAL_ORDER.compare;
      return out.sort(
        (a, b) =>
          text(a.figure, b.figure) ||
          text(a.series, b.series) ||
          a.removals - b.removals ||
          num(a.epsilon) - num(b.epsilon) ||
          a.sigma - b.sigma ||
          num(a.batch) - num(b.batch) ||
          text(a.job, b.job),
      );
    },

    async listSweepJobs(sweepId) {
      live();
      const rows = await db
        .select({
          jobId: sweepJobs.jobId,
          figure: sweepJobs.figure,
          series: sweepJobs.series,
          labels: sweepJobs.labels,
          kind: jobs.kind,
          spec: jobs.spec,
          state: jobs.state,
          attempts: jobs.attempts,
          error: jobs.error,
          updatedAt: jobs.updatedAt,
          worker: results.worker,
          engine: results.engine,
          msPerStep: results.msPerStep,
          wallMs: results.wallMs,
          stepsRun: results.stepsRun,
          resultAt: results.createdAt,
        })
        .from(sweepJobs)
        .innerJoin(jobs, eq(jobs.id, sweepJobs.jobId))
        .leftJoin(results, eq(results.jobId, sweepJobs.jobId))
        .where(eq(sweepJobs.sweepId, sweepId))
        .orderBy(asc(sweepJobs.jobId), asc(sweepJobs.series), asc(sweepJobs.point));
      return rows.map(({ worker, engine, msPerStep, wallMs, stepsRun, resultAt, labels, ...link }) => ({
        ...link,
        labels: (labels ?? {}) as SweepLabels,
        result:
          worker === null || engine === null || resultAt === null
            ? null
            : {
                worker,
                engine,
                msPerStep: msPerStep!,
                wallMs: wallMs!,
                stepsRun: stepsRun!,
                createdAt: resultAt,
              },
      }));
    },

    async close() {
      if (closed) return;
      closed = true;
      await closeClient();
    },
  };
  return store;
}
