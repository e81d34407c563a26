/** The Store's jobs: registering them, linking them to sweeps, their states, and their results. */
import { RESULT_KINDS } from "@unlearn/protocol";
import { eq, inArray, sql } from "drizzle-orm";
import { JOB_STATES, jobs, results, sweepJobs } from "./schema.ts";
import {
  chunks,
  jsonValue,
  labelsValue,
  meanStd,
  requireOneOf,
  requireString,
  requireText,
  sqlState,
} from "./store-check.ts";
import type { Store, StoreContext } from "./store-types.ts";

type JobOps = Pick<
  Store,
  "upsertJobs" | "linkSweepJobs" | "setJobState" | "doneJobIds" | "saveResult" | "getJob" | "getResult"
>;

export function jobOps({ db, live }: StoreContext): JobOps {
  const ops: JobOps = {
    async upsertJobs(input) {
      live();
      const rows = input.map((j, i) => ({
        id: requireText(j.id, `jobs[${i}].id`),
        kind: requireOneOf(j.kind, RESULT_KINDS, `jobs[${i}] (${j.id}).kind`),
        spec: jsonValue(j.spec, `jobs[${i}] (${j.id}).spec`),
        parentId: j.parentId === null || j.parentId === undefined || j.parentId === "" ? null : j.parentId,
        keepChains: j.keepChains === true,
      }));
      if (rows.length === 0) return;
      // A job id is the hash of its spec, so an existing row already holds the same kind and spec; a
      // sweep that keeps chains marks shared jobs too (never unmarks: another sweep may have asked).
      await db.transaction(async (tx) => {
        for (const part of chunks(rows)) {
          const insert = tx.insert(jobs).values(part);
          if (part.some((r) => r.keepChains))
            await insert.onConflictDoUpdate({
              target: jobs.id,
              set: { keepChains: sql`${jobs.keepChains} or excluded.keep_chains` },
            });
          else await insert.onConflictDoNothing({ target: jobs.id });
        }
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
        await ops.setJobState(id, "failed", { error: r.error || "failed without an error message" });
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
              fusedColumns: r.fusedColumns || null,
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

    async getJob(jobId) {
      live();
      const rows = await db.select().from(jobs).where(eq(jobs.id, jobId));
      return rows[0] ?? null;
    },

    async getResult(jobId) {
      live();
      const [r] = await db.select().from(results).where(eq(results.jobId, jobId));
      if (!r) return null;
      const { accuracies, stepsRun, wallMs, msPerStep, engine, worker } = r;
      return {
        jobId,
        ok: true,
        error: "",
        // real[] reads back as the shortest decimals; fround gives the float32 values the result carried.
        accuracies: accuracies.map(Math.fround),
        artifactKey: r.artifactKey ?? "",
        stepsRun,
        wallMs,
        msPerStep,
        engine,
        worker,
        ...(r.fusedColumns !== null ? { fusedColumns: r.fusedColumns } : {}),
      };
    },
  };
  return ops;
}
