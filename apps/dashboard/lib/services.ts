/**
 * The pages' way to the data. ./server/main.ts (run by tsx, outside Next's bundle) opens the database with
 * @unlearn/db and registers these services on globalThis before it serves a request; pages and route
 * handlers only call them. So the workspace packages, PGlite's WebAssembly and onnxruntime stay plain Node
 * modules, loaded once, exactly as the CLI loads them. Type-only imports here: nothing is bundled.
 */
import type { ResultRow } from "@unlearn/protocol";
import type { FigureView, SweepDetailView, SweepView, WorkerView } from "./types.ts";

export interface AccountantInput {
  dataset: string;
  epsilon: number;
  sigma: number;
  removals: number;
  /** K is searched in {1, 1+G, …}; the paper's figures use 10, the CLI's default is 1 */
  granularity: number;
  smoothness: "data" | "bound";
  /** the target K for σ*(ε, K) */
  targetK: number;
}

export interface AccountantView {
  dataset: string;
  constants: { n: number; d: number; L: number; M: number; m: number; delta: number };
  K: number;
  alpha: number;
  epsilonAtK: number;
  epsilon0: number;
  alpha0: number;
  /** σ*(ε, targetK): the least noise that reaches ε in targetK steps */
  sigmaStar: number | null;
  sigmaStarError: string | null;
  targetK: number;
  /** ε after k steps, k = 0 … about 1.5 K (the ε(K) curve) */
  curve: { k: number; epsilon: number }[];
}

export interface WorkersView {
  /** "cluster" when a coordinator was asked; "embedded" otherwise (workers are a sweep's threads) */
  mode: "embedded" | "cluster";
  /** the coordinator's address, when one was asked */
  source: string | null;
  workers: WorkerView[];
  error: string | null;
  /** the workers named by stored results of the newest sweeps: what each ran and how fast */
  stored: StoredWorkerView[];
}

export interface StoredWorkerView {
  worker: string;
  engine: string;
  jobs: number;
  /** ms per step of its last stored result */
  lastMsPerStep: number;
  lastSeen: string;
}

export interface DashboardServices {
  /** the database as the user named it (a postgres URL with its password masked) */
  readonly database: string;
  /** "embedded": a PGlite directory (workers are the sweep's threads); "cluster": PostgreSQL */
  readonly mode: "embedded" | "cluster";
  sweeps(): Promise<SweepView[]>;
  /** A sweep by id or unique id prefix; null when there is none. `svg`: draw its figures on the server too. */
  sweep(id: string, options?: { svg?: boolean }): Promise<SweepDetailView | null>;
  /** The paper figures in the paper's order, as @unlearn/figures defines them. */
  figureCatalog(): { id: string; name: string; caption: string }[];
  /** Every paper figure with results: per (figure, dataset), the newest sweep that has rows for it. */
  figures(): Promise<FigureView[]>;
  /** Every stored result row, sweep by sweep, newest sweep first; each sweep's rows in `pnpm results` order. */
  results(): Promise<ResultRow[]>;
  resultsCsv(rows: readonly ResultRow[]): string;
  accountant(input: AccountantInput): Promise<AccountantView>;
  /** The datasets the accountant page offers. */
  datasets(): string[];
  workers(): Promise<WorkersView>;
}

/** The database could not be opened or queried; `database` names it, `reason` says why. */
export interface DatabaseProblem {
  database: string;
  reason: string;
}

const KEY = Symbol.for("unlearn.dashboard.services");

export function registerServices(services: DashboardServices): void {
  (globalThis as Record<symbol, unknown>)[KEY] = services;
}

export function services(): DashboardServices {
  const found = (globalThis as Record<symbol, unknown>)[KEY] as DashboardServices | undefined;
  if (!found) {
    throw new Error(
      "the dashboard's services are not registered: start it with `pnpm dashboard` (server/main.ts), not `next start`",
    );
  }
  return found;
}

/** Marks an error as the database's fault (opening or querying it), for the pages' error view. */
export class DatabaseError extends Error {
  override name = "DatabaseError";
  constructor(
    readonly database: string,
    readonly reason: string,
  ) {
    super(`the database ${database} cannot be reached: ${reason}`);
  }
}

/** The DatabaseProblem an error describes, if it is one (checked by name: two module copies may exist). */
export function databaseProblem(error: unknown): DatabaseProblem | null {
  const e = error as { name?: unknown; database?: unknown; reason?: unknown };
  if (e && e.name === "DatabaseError" && typeof e.database === "string" && typeof e.reason === "string") {
    return { database: e.database, reason: e.reason };
  }
  return null;
}
