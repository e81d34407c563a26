/**
 * The database schema of unlearn-sweep (Drizzle, PostgreSQL dialect; the same tables on PGlite and Postgres).
 * Migrations in ../drizzle are generated from this file: `pnpm --filter @unlearn/db generate`.
 */
import { sql } from "drizzle-orm";
import {
  boolean,
  check,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  serial,
  text,
  timestamp,
} from "drizzle-orm/pg-core";

/** bytea as a plain Uint8Array on both drivers (postgres-js hands back a Buffer, PGlite a Uint8Array). */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
  fromDriver: (value) => new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
});

const createdAt = () => timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();
const updatedAt = () => timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();

// "interrupted": the run stopped before its jobs were done (Ctrl-C, a store error, or an owner that died,
// derived when read) and a rerun of the same config resumes it.
export const SWEEP_STATES = ["running", "done", "failed", "interrupted"] as const;
export type SweepState = (typeof SWEEP_STATES)[number];
export const JOB_STATES = ["pending", "running", "done", "failed"] as const;
export type JobState = (typeof JOB_STATES)[number];

export const sweeps = pgTable(
  "sweeps",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    figure: text("figure").notNull(),
    config: jsonb("config").notNull(),
    // uint64 as decimal text: exact, and JSON / every driver handle it without bigint support.
    seed: text("seed").notNull(),
    state: text("state").$type<SweepState>().notNull().default("running"),
    // Why the sweep stopped (interrupted or failed); null while it runs and once it is done.
    error: text("error"),
    // The process that runs the sweep while state is running: a reader on the same host whose owner pid
    // is gone shows it as interrupted (a killed sweep never writes its own end). Null for other states.
    ownerHost: text("owner_host"),
    ownerPid: integer("owner_pid"),
    ownerStartedAt: timestamp("owner_started_at", { withTimezone: true, mode: "date" }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check("sweeps_state_check", sql`${t.state} in ('running', 'done', 'failed', 'interrupted')`),
    // Lookups by an id prefix (LIKE 'abc%'): the primary key's index serves = only under the C collation.
    index("sweeps_id_prefix_idx").on(t.id.op("text_pattern_ops")),
  ],
);

export const jobs = pgTable(
  "jobs",
  {
    // The content address jobId(spec) from @unlearn/protocol.
    id: text("id").primaryKey(),
    kind: text("kind").notNull(),
    spec: jsonb("spec").notNull(),
    // No foreign key: callers may register a child before its parent; the planner guarantees the order of runs.
    parentId: text("parent_id"),
    state: text("state").$type<JobState>().notNull().default("pending"),
    // A sweep asked to keep this job's chains although no job starts from them (--keep-chains).
    keepChains: boolean("keep_chains").notNull().default(false),
    attempts: integer("attempts").notNull().default(0),
    error: text("error"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check("jobs_state_check", sql`${t.state} in ('pending', 'running', 'done', 'failed')`),
    index("jobs_parent_idx").on(t.parentId),
  ],
);

export const sweepJobs = pgTable(
  "sweep_jobs",
  {
    sweepId: text("sweep_id")
      .notNull()
      .references(() => sweeps.id, { onDelete: "cascade" }),
    jobId: text("job_id")
      .notNull()
      .references(() => jobs.id),
    figure: text("figure").notNull(),
    series: text("series").notNull(),
    // What the figure plots besides the spec: { epsilon?, alpha?, K?, epsilon0?, batch? }.
    labels: jsonb("labels").notNull(),
    // A link is one point of a series, and one job can be several points of the same series: in
    // Figure 4 the S = 1 job with K = 1 serves every ε. jsonb's text form is canonical (keys sorted,
    // duplicates dropped), so equal labels give the same point.
    point: text("point").notNull().generatedAlwaysAs(sql`labels::text`),
  },
  (t) => [
    primaryKey({ columns: [t.sweepId, t.jobId, t.series, t.point] }),
    index("sweep_jobs_job_idx").on(t.jobId),
  ],
);

export const results = pgTable("results", {
  jobId: text("job_id")
    .primaryKey()
    .references(() => jobs.id),
  // float32 on the wire (JobResult.accuracies), so real[] loses nothing.
  accuracies: real("accuracies").array().notNull(),
  accuracyMean: doublePrecision("accuracy_mean").notNull(),
  accuracyStd: doublePrecision("accuracy_std").notNull(),
  stepsRun: integer("steps_run").notNull(),
  wallMs: doublePrecision("wall_ms").notNull(),
  msPerStep: doublePrecision("ms_per_step").notNull(),
  engine: text("engine").notNull(),
  worker: text("worker").notNull(),
  artifactKey: text("artifact_key"),
  // Job fusion's provenance: the width (columns of W) of the column batch the job ran in, when it had
  // batch mates; null when it ran alone (or was stored before fusion existed).
  fusedColumns: integer("fused_columns"),
  createdAt: createdAt(),
});

export const artifacts = pgTable("artifacts", {
  key: text("key").primaryKey(),
  bytes: bytea("bytes").notNull(),
  shape: integer("shape").array().notNull(),
  dtype: text("dtype").notNull(),
  createdAt: createdAt(),
});

export const events = pgTable(
  "events",
  {
    id: serial("id").primaryKey(),
    sweepId: text("sweep_id")
      .notNull()
      .references(() => sweeps.id, { onDelete: "cascade" }),
    jobId: text("job_id"),
    type: text("type").notNull(),
    payload: jsonb("payload"),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    index("events_sweep_idx").on(t.sweepId, t.id),
    // A sweep's events of one type (its submissions, its last "done") without reading the others.
    index("events_sweep_type_idx").on(t.sweepId, t.type, t.id),
  ],
);

export const schema = { sweeps, jobs, sweepJobs, results, artifacts, events };
