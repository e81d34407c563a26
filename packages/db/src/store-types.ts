/** The Store's interface and the records it reads and writes. */
import type { JobResult, ResultKind, ResultRow } from "@unlearn/protocol";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { SweepOwner } from "./owner.ts";
import type { JobState, SweepState, schema } from "./schema.ts";

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
  /** keep its chains although no job starts from them (a sweep's keepChains); sticks once set */
  keepChains?: boolean;
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
  /** The stored (successful) result of a job, as it was saved; null when there is none. */
  getResult(jobId: string): Promise<JobResult | null>;
  putArtifact(key: string, bytes: Uint8Array, meta: { shape: number[]; dtype: "float32" }): Promise<void>;
  getArtifact(key: string): Promise<Uint8Array | null>;
  /** Which of `keys` have stored chains (existence only: no artifact bytes are read). */
  hasArtifacts(keys: string[]): Promise<Set<string>>;
  appendEvent(e: { sweepId: string; jobId?: string; type: string; payload?: unknown }): Promise<void>;
  /** A sweep's events in order, those with id > afterId (for polling), at most `limit` (default 1000). */
  listEvents(sweepId: string, options?: { afterId?: number; limit?: number }): Promise<EventRecord[]>;
  /** How many events of `type` a sweep has (by the (sweep, type) index; no payload is read). */
  countEvents(sweepId: string, type: string): Promise<number>;
  /** A sweep's first or last event whose type is one of `types`, or null. */
  findEvent(sweepId: string, types: readonly string[], which: "first" | "last"): Promise<EventRecord | null>;
  /** One job's row, or null when it is not stored. */
  getJob(jobId: string): Promise<JobRecord | null>;
  /** Every sweep, newest first; a running sweep whose owner is gone reads as interrupted. */
  listSweeps(): Promise<SweepSummary[]>;
  /** One sweep (same derivation as listSweeps), or null when it is not stored. */
  getSweep(id: string): Promise<SweepSummary | null>;
  /** Sweeps whose id starts with `prefix` (an exact id included), by the id index; at most `limit` (default 2). */
  findSweeps(prefix: string, limit?: number): Promise<SweepSummary[]>;
  sweepResults(sweepId: string): Promise<ResultRow[]>;
  /**
   * One page of a sweep's results in key order (job id, series, point), for callers that cannot hold
   * them all at once (QueryResults): `after` is the previous page's `next` (omitted for the first page).
   * Sort the collected rows with sortResultRows for the order sweepResults gives.
   */
  sweepResultsPage(sweepId: string, page: { after?: string; limit: number }): Promise<ResultsPage>;
  /** The bytes a sweep holds in the database, by table (jobs shared with other sweeps count for each). */
  sweepStorage(sweepId: string): Promise<SweepStorage>;
  /**
   * Deletes the stored chains of a sweep's jobs, except those an unfinished job (of any sweep) starts
   * from. A later sweep that needs a freed parent's chains reruns that parent.
   */
  freeChains(sweepId: string): Promise<{ chains: number; bytes: number }>;
  /**
   * Whether a job's chains are to be stored: a registered job starts from them (of any sweep), or a
   * sweep asked to keep them. A leaf's accuracies are its result; its chains would only take room.
   */
  wantsChains(jobId: string): Promise<boolean>;
  /** The jobs linked to a sweep, one record per link (a job may be several points), in link order of job id. */
  listSweepJobs(sweepId: string): Promise<SweepJobRecord[]>;
  close(): Promise<void>;
}

export interface ResultsPage {
  rows: ResultRow[];
  /** the `after` of the next page, or null after the last one */
  next: string | null;
}

export interface SweepStorage {
  sweepId: string;
  /** distinct jobs linked to the sweep */
  jobs: number;
  /** of those, jobs whose chains are stored */
  chains: number;
  /** bytes of those chains (the float32 payload) */
  chainBytes: number;
  /** bytes of the other rows: jobs, results, links, events (PostgreSQL's pg_column_size of each row) */
  rowBytes: number;
  totalBytes: number;
}

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

/** What each of the Store's modules works on: the database, and a guard that throws once the store is closed. */
export interface StoreContext {
  db: Db;
  live(): void;
}
