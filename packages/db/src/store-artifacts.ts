/** The Store's chains (artifacts): writing and reading them, what a sweep holds, and freeing it. */
import { and, eq, inArray, notExists, type SQL, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import { artifacts, events, jobs, results, sweepJobs } from "./schema.ts";
import { chunks, requireOneOf, requireText } from "./store-check.ts";
import type { Store, StoreContext } from "./store-types.ts";

type ArtifactOps = Pick<
  Store,
  "putArtifact" | "getArtifact" | "hasArtifacts" | "sweepStorage" | "freeChains" | "wantsChains"
>;

/** Stored bytes of whole rows of `table` (PostgreSQL's own measure, TOAST compression included). */
const rowBytes = (table: string) =>
  sql<number>`coalesce(sum(pg_column_size(${sql.identifier(table)}.*)), 0)`.mapWith(Number);
const count = () => sql<number>`count(*)`.mapWith(Number);

export function artifactOps({ db, live }: StoreContext): ArtifactOps {
  const jobsOf = (sweepId: string) =>
    db.selectDistinct({ id: sweepJobs.jobId }).from(sweepJobs).where(eq(sweepJobs.sweepId, sweepId));
  /** Deletes the chains `which` selects, except those a job without a result (of any sweep) starts from. */
  const free = async (which: SQL) => {
    // Correlated on jobs_parent_idx: each candidate looks up its own children, not the whole jobs table.
    const child = alias(jobs, "child");
    const unfinishedChild = db
      .select({ one: sql`1` })
      .from(child)
      .where(
        and(
          eq(child.parentId, artifacts.key),
          notExists(db.select({ one: sql`1` }).from(results).where(eq(results.jobId, child.id))),
        ),
      );
    const freed = await db
      .delete(artifacts)
      .where(and(which, notExists(unfinishedChild)))
      .returning({ bytes: sql<number>`pg_column_size(${artifacts.bytes})`.mapWith(Number) });
    return { chains: freed.length, bytes: freed.reduce((s, r) => s + r.bytes, 0) };
  };
  return {
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

    async sweepStorage(sweepId) {
      live();
      requireText(sweepId, "sweepStorage: sweep id");
      const [chains] = await db
        .select({
          n: count(),
          bytes: sql<number>`coalesce(sum(pg_column_size(${artifacts.bytes})), 0)`.mapWith(Number),
        })
        .from(artifacts)
        .where(inArray(artifacts.key, jobsOf(sweepId)));
      const [job] = await db
        .select({ n: count(), bytes: rowBytes("jobs") })
        .from(jobs)
        .where(inArray(jobs.id, jobsOf(sweepId)));
      const [result] = await db
        .select({ bytes: rowBytes("results") })
        .from(results)
        .where(inArray(results.jobId, jobsOf(sweepId)));
      const [link] = await db
        .select({ bytes: rowBytes("sweep_jobs") })
        .from(sweepJobs)
        .where(eq(sweepJobs.sweepId, sweepId));
      const [event] = await db
        .select({ bytes: rowBytes("events") })
        .from(events)
        .where(eq(events.sweepId, sweepId));
      const rows = job!.bytes + result!.bytes + link!.bytes + event!.bytes;
      return {
        sweepId,
        jobs: job!.n,
        chains: chains!.n,
        chainBytes: chains!.bytes,
        rowBytes: rows,
        totalBytes: chains!.bytes + rows,
      };
    },

    async freeChains(sweepId) {
      live();
      requireText(sweepId, "freeChains: sweep id");
      return free(inArray(artifacts.key, jobsOf(sweepId)));
    },

    async wantsChains(jobId) {
      live();
      requireText(jobId, "wantsChains: job id");
      const child = alias(jobs, "child");
      const [row] = await db
        .select({
          wanted: sql<boolean>`${jobs.keepChains} or exists (${db
            .select({ one: sql`1` })
            .from(child)
            .where(eq(child.parentId, jobs.id))})`,
        })
        .from(jobs)
        .where(eq(jobs.id, jobId));
      // An unregistered job (a result for a job no sweep planned) keeps its chains: nothing says otherwise.
      return row === undefined ? true : Boolean(row.wanted);
    },
  };
}
