/** The Store's reads of a sweep's results: ResultRows for figures and exports, and job records for the dashboard. */
import { JobSpec, RESULT_KINDS, type ResultRow, Smoothness, type SmoothnessName } from "@unlearn/protocol";
import { and, asc, eq, sql } from "drizzle-orm";
import { jobs, results, sweepJobs, sweeps } from "./schema.ts";
import { type LABEL_KEYS, requireLimit, requireOneOf } from "./store-check.ts";
import type { Db, Store, StoreContext, SweepLabels } from "./store-types.ts";

type ResultOps = Pick<Store, "sweepResults" | "sweepResultsPage" | "listSweepJobs">;

const NATURAL_ORDER = new Intl.Collator("en", { numeric: true });
const UNLEARN_KINDS: ReadonlySet<string> = new Set(["unlearn", "d2d-unlearn"]);

function labelNumber(labels: unknown, key: (typeof LABEL_KEYS)[number]): number | null {
  const v = labels && typeof labels === "object" ? (labels as Record<string, unknown>)[key] : undefined;
  return typeof v === "number" ? v : null;
}

/** A sweep's linked jobs that have a result, with what a ResultRow needs. */
function resultQuery(db: Db) {
  return db
    .select({
      jobId: sweepJobs.jobId,
      figure: sweepJobs.figure,
      series: sweepJobs.series,
      point: sweepJobs.point,
      labels: sweepJobs.labels,
      kind: jobs.kind,
      spec: jobs.spec,
      accuracies: results.accuracies,
      accuracyMean: results.accuracyMean,
      accuracyStd: results.accuracyStd,
      engine: results.engine,
      wallMs: results.wallMs,
      fusedColumns: results.fusedColumns,
    })
    .from(sweepJobs)
    .innerJoin(jobs, eq(jobs.id, sweepJobs.jobId))
    .innerJoin(results, eq(results.jobId, sweepJobs.jobId))
    .$dynamic();
}

type ResultJoin = Awaited<ReturnType<typeof resultQuery>>[number];

function resultRow(sweepId: string, r: ResultJoin): ResultRow {
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
    smoothness: smoothnessName(spec.smoothness),
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
    fusedColumns: r.fusedColumns,
  };
}

/**
 * Sorts rows in place the way a figure reads them: series in natural order (S=1, S=50, S=100), and
 * within a series along S, ε, σ and the sequential batches.
 */
export function sortResultRows(rows: ResultRow[]): ResultRow[] {
  const num = (v: number | null) => v ?? Number.NEGATIVE_INFINITY;
  const text = NATURAL_ORDER.compare;
  return rows.sort(
    (a, b) =>
      text(a.figure, b.figure) ||
      text(a.series, b.series) ||
      a.removals - b.removals ||
      num(a.epsilon) - num(b.epsilon) ||
      a.sigma - b.sigma ||
      num(a.batch) - num(b.batch) ||
      text(a.job, b.job),
  );
}

/** A page cursor: the last row's link key, opaque to callers. */
const cursorOf = (r: ResultJoin) =>
  Buffer.from(JSON.stringify([r.jobId, r.series, r.point])).toString("base64url");

function parseCursor(after: string): [string, string, string] {
  try {
    const key = JSON.parse(Buffer.from(after, "base64url").toString("utf8"));
    if (Array.isArray(key) && key.length === 3 && key.every((k) => typeof k === "string"))
      return key as [string, string, string];
  } catch {}
  throw new Error(
    `sweepResultsPage: after ${JSON.stringify(after)} is not a page cursor (pass the previous page's next)`,
  );
}

export function resultOps({ db, live }: StoreContext): ResultOps {
  const requireSweep = async (sweepId: string, what: string) => {
    const exists = await db.select({ id: sweeps.id }).from(sweeps).where(eq(sweeps.id, sweepId));
    if (exists.length === 0) throw new Error(`${what}: unknown sweep "${sweepId}"`);
  };
  return {
    async sweepResults(sweepId) {
      live();
      await requireSweep(sweepId, "sweepResults");
      const rows = await resultQuery(db).where(eq(sweepJobs.sweepId, sweepId));
      return sortResultRows(rows.map((r) => resultRow(sweepId, r)));
    },

    async sweepResultsPage(sweepId, page) {
      live();
      const limit = requireLimit(page.limit, "sweepResultsPage");
      await requireSweep(sweepId, "sweepResultsPage");
      // Keyset paging along sweep_jobs' primary key (sweep, job, series, point): each page is one index range.
      const after = page.after ? parseCursor(page.after) : undefined;
      const rows = await resultQuery(db)
        .where(
          and(
            eq(sweepJobs.sweepId, sweepId),
            after
              ? sql`(${sweepJobs.jobId}, ${sweepJobs.series}, ${sweepJobs.point}) > (${after[0]}, ${after[1]}, ${after[2]})`
              : undefined,
          ),
        )
        .orderBy(asc(sweepJobs.jobId), asc(sweepJobs.series), asc(sweepJobs.point))
        .limit(limit);
      return {
        rows: rows.map((r) => resultRow(sweepId, r)),
        next: rows.length === limit ? cursorOf(rows.at(-1)!) : null,
      };
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
  };
}

/** null only for a spec without one, which no executor runs (it refuses such a job). */
function smoothnessName(smoothness: Smoothness): SmoothnessName | null {
  if (smoothness === Smoothness.SMOOTHNESS_DATA) return "data";
  if (smoothness === Smoothness.SMOOTHNESS_BOUND) return "bound";
  return null;
}
