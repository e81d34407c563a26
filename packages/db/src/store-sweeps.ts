/** The Store's sweeps: creating one, moving its state, and reading summaries (with derived interruption). */
import { asc, desc, eq, inArray, like, type SQL, sql } from "drizzle-orm";
import { currentOwner, ownerAlive, type SweepOwner } from "./owner.ts";
import { jobs, results, SWEEP_STATES, sweepJobs, sweeps } from "./schema.ts";
import { jsonValue, requireLimit, requireOneOf, requireString, requireText } from "./store-check.ts";
import type { Db, Store, StoreContext, SweepSummary } from "./store-types.ts";

function ownerColumns(owner: SweepOwner | null) {
  return {
    ownerHost: owner?.host ?? null,
    ownerPid: owner?.pid ?? null,
    ownerStartedAt: owner?.startedAt ?? null,
  };
}

/** The sweeps matching `where` (all when undefined) with their job counts, newest first. */
function summaryQuery(db: Db, where?: SQL) {
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
    .where(where)
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

/** LIKE's wildcards taken literally, so a prefix matches only itself. */
const likePrefix = (prefix: string) => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export function sweepOps({
  db,
  live,
}: StoreContext): Pick<Store, "createSweep" | "setSweepState" | "listSweeps" | "getSweep" | "findSweeps"> {
  return {
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

    async listSweeps() {
      live();
      return (await summaryQuery(db)).map(summaryOf);
    },

    async getSweep(id) {
      live();
      const rows = await summaryQuery(db, eq(sweeps.id, id));
      return rows.length === 0 ? null : summaryOf(rows[0]!);
    },

    async findSweeps(prefix, limit = 2) {
      live();
      requireText(prefix, "findSweeps: prefix");
      requireLimit(limit, "findSweeps");
      // The ids first, by the sweeps_id_prefix_idx index; only those few sweeps are aggregated.
      const ids = await db
        .select({ id: sweeps.id })
        .from(sweeps)
        .where(like(sweeps.id, likePrefix(prefix)))
        .orderBy(asc(sweeps.id))
        .limit(limit);
      if (ids.length === 0) return [];
      const exact = ids.find((r) => r.id === prefix);
      const wanted = exact ? [exact.id] : ids.map((r) => r.id);
      const rows = await summaryQuery(db, inArray(sweeps.id, wanted));
      return rows.map(summaryOf);
    },
  };
}
