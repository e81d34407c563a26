/**
 * The dashboard's services over one database (see ../lib/services.ts for why they live outside Next's
 * bundle): the Store opened lazily and reopened after a failure, so a database that is down at start or
 * goes away later shows as an error page naming it, and the page works again once it is back.
 */
import {
  type DbSource,
  isPostgresUrl,
  maskLocation,
  openStore,
  type Store,
  type SweepSummary,
} from "@unlearn/db";
import { FIGURE_IDS, FIGURES, isFigureId, renderSvg } from "@unlearn/figures";
import { type ResultRow, resultsCsv } from "@unlearn/protocol";
import {
  type AccountantInput,
  type AccountantView,
  type DashboardServices,
  DatabaseError,
  type WorkersView,
} from "../lib/services.ts";
import type { FigureView, SweepDetailView, SweepView } from "../lib/types.ts";
import { computeAccountant, KNOWN_DATASETS } from "./accountant.ts";
import { figureViews, jobViews, sweepView } from "./views.ts";
import { listWorkers, storedWorkers, withSweeps } from "./workers.ts";

export interface ServicesOptions {
  /** a PGlite directory or a postgres:// URL, as openStore takes it */
  db: string;
  /** where db came from, for the error page */
  source?: DbSource;
  /** host:port of a coordinator whose ListWorkers the workers page asks */
  coordinator?: string;
  /** the coordinator's token (UNLEARN_TOKEN), sent as authorization: Bearer */
  coordinatorToken?: string;
  /** Opens the store (tests pass a store opened elsewhere). */
  open?: (location: string) => Promise<Store>;
}

export interface ServerServices extends DashboardServices {
  close(): Promise<void>;
}

/** A sweep's whole event list, read in pages (Store.listEvents returns at most 1000 at a time). */
async function allEvents(store: Store, sweepId: string) {
  const out = [];
  for (let after = 0; ; ) {
    const page = await store.listEvents(sweepId, { afterId: after, limit: 1000 });
    out.push(...page);
    if (page.length < 1000) return out;
    after = page[page.length - 1].id;
  }
}

type Query = <T>(fn: (s: Store) => Promise<T>) => Promise<T>;

/**
 * The store, opened on first use; a failed open is not cached, so the next request tries again, and a
 * failure of the database itself (not of a page's logic) becomes a DatabaseError naming it.
 */
function storeAccess(options: ServicesOptions, database: string): { query: Query; close(): Promise<void> } {
  // A reader: a database that does not exist yet is an error page ("no database here"), not created.
  const open =
    options.open ?? ((location: string) => openStore(location, { create: false, source: options.source }));
  let opening: Promise<Store> | null = null;
  const store = (): Promise<Store> => {
    opening ??= open(options.db).catch((error: unknown) => {
      opening = null;
      throw new DatabaseError(database, reasonOf(error, options.db));
    });
    return opening;
  };
  const query: Query = async (fn) => {
    const s = await store();
    try {
      return await fn(s);
    } catch (error) {
      if (isConnectionError(error)) {
        opening = null;
        await s.close().catch(() => {});
        throw new DatabaseError(database, reasonOf(error, options.db));
      }
      throw error;
    }
  };
  const close = async () => {
    const pending = opening;
    opening = null;
    if (pending) await (await pending.catch(() => null))?.close();
  };
  return { query, close };
}

/**
 * A sweep that is not running changes only when it is resumed (its state, counts or updatedAt move):
 * its view is kept, so the list polled every 1.5 s reads only the running sweeps' jobs and events.
 */
function sweepViewCache() {
  const settled = new Map<string, { key: string; view: SweepView }>();
  return async (s: Store, summary: SweepSummary): Promise<SweepView> => {
    const key = [
      summary.state,
      summary.jobs,
      summary.done,
      summary.failed,
      summary.updatedAt?.getTime(),
    ].join();
    const kept = settled.get(summary.id);
    if (kept && kept.key === key) return kept.view;
    const [links, events] = await Promise.all([s.listSweepJobs(summary.id), allEvents(s, summary.id)]);
    const view = sweepView(summary, links, events);
    if (summary.state === "running") settled.delete(summary.id);
    else settled.set(summary.id, { key, view });
    return view;
  };
}

/** The cluster's workers (ListWorkers) with their current jobs' sweeps, and the workers named in stored results. */
async function workersView(options: ServicesOptions, query: Query): Promise<WorkersView> {
  // The five newest sweeps name the stored workers; running ones (any age) hold the current jobs.
  const links = await query(async (s) => {
    const all = await s.listSweeps();
    const chosen = all.filter((x, i) => i < 5 || x.state === "running");
    const jobs = await Promise.all(chosen.map((x) => s.listSweepJobs(x.id)));
    return chosen.map((x, i) => ({ sweepId: x.id, recent: all.indexOf(x) < 5, jobs: jobs[i]! }));
  }).catch(() => []);
  const stored = storedWorkers(links.filter((l) => l.recent).flatMap((l) => l.jobs));
  if (!options.coordinator) return { mode: "embedded", source: null, workers: [], error: null, stored };
  const cluster = await listWorkers(options.coordinator, options.coordinatorToken);
  const jobLinks = links.flatMap((l) => l.jobs.map((j) => ({ sweepId: l.sweepId, jobId: j.jobId })));
  return { ...withSweeps(cluster, jobLinks), stored };
}

export function createServices(options: ServicesOptions): ServerServices {
  const database = maskLocation(options.db);
  const { query, close } = storeAccess(options, database);
  const viewOf = sweepViewCache();
  return {
    database,
    mode: isPostgresUrl(options.db) ? "cluster" : "embedded",
    sweeps: () =>
      query(async (s) => Promise.all((await s.listSweeps()).map((summary) => viewOf(s, summary)))),
    sweep: (wanted, options) =>
      query(async (s): Promise<SweepDetailView | null> => {
        const id = await resolveId(s, wanted);
        const summary = id === null ? null : await s.getSweep(id);
        if (id === null || !summary) return null;
        const sweep = await viewOf(s, summary);
        const [links, rows] = await Promise.all([s.listSweepJobs(id), s.sweepResults(id)]);
        const figures = figureViews(id, rows, links);
        return { sweep, jobs: jobViews(links), figures: options?.svg ? await withSvg(figures) : figures };
      }),
    figureCatalog: () =>
      FIGURE_IDS.map((id) => ({ id, name: FIGURES[id].name, caption: FIGURES[id].caption })),
    figures: () => query(async (s) => withSvg(await newestFigures(s))),
    results: () =>
      query(async (s) => {
        const rows: ResultRow[] = [];
        for (const summary of await s.listSweeps()) rows.push(...(await s.sweepResults(summary.id)));
        return rows;
      }),
    resultsCsv: (rows) => resultsCsv(rows),
    accountant: (input: AccountantInput): Promise<AccountantView> => computeAccountant(input),
    datasets: () => [...KNOWN_DATASETS],
    workers: () => workersView(options, query),
    close,
  };
}

/** The figures with their server-side SVG (a figure Vega cannot draw keeps its interactive chart only). */
async function withSvg(figures: FigureView[]): Promise<FigureView[]> {
  return Promise.all(
    figures.map(async (f) => (f.spec ? { ...f, svg: await renderSvg(f.spec).catch(() => null) } : f)),
  );
}

/** An exact id, else the one sweep whose id starts with `wanted`; null for none or several. */
async function resolveId(s: Store, wanted: string): Promise<string | null> {
  if (!/^[0-9a-zA-Z_-]{1,128}$/.test(wanted)) return null;
  if (await s.getSweep(wanted)) return wanted;
  const matches = (await s.listSweeps()).filter((x) => x.id.startsWith(wanted));
  return matches.length === 1 ? matches[0].id : null;
}

/** Per (figure, dataset), the figure of the newest sweep with rows for it. */
async function newestFigures(s: Store): Promise<FigureView[]> {
  const chosen = new Map<string, FigureView>();
  for (const summary of await s.listSweeps()) {
    const rows = await s.sweepResults(summary.id);
    if (rows.length === 0) continue;
    const links = await s.listSweepJobs(summary.id);
    for (const view of figureViews(summary.id, rows, links)) {
      const key = `${view.figure}\u0000${view.dataset}`;
      if (!chosen.has(key) && (view.spec || view.error !== "no results stored yet")) chosen.set(key, view);
    }
  }
  const order = (f: string) => (isFigureId(f) ? FIGURE_IDS.indexOf(f) : FIGURE_IDS.length);
  return [...chosen.values()].sort(
    (a, b) => order(a.figure) - order(b.figure) || a.dataset.localeCompare(b.dataset),
  );
}

/** Errors that mean the database went away (connection refused or reset, server shut down). */
function isConnectionError(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    const code = typeof e.code === "string" ? e.code : "";
    if (/^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND|CONNECTION_|57P0|08)/.test(code)) return true;
  }
  return false;
}

/** The innermost message, with the location (which may hold a password) masked. */
function reasonOf(error: unknown, location: string): string {
  let e = error as { message?: unknown; cause?: unknown };
  const messages: string[] = [];
  for (; e; e = e.cause as typeof e) {
    if (typeof e.message === "string" && e.message) messages.push(e.message);
    if (!(e.cause instanceof Error)) break;
  }
  const text = messages[messages.length - 1] ?? String(error);
  return text.split(location).join(maskLocation(location));
}
