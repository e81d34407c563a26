/**
 * Migration 0005 (results.fused_columns, job fusion's provenance) on a database made before it: a
 * PGlite directory and a PostgreSQL database migrated up to 0004 with a stored result are opened by
 * today's openStore, which adds the column (null for the old result) and stores new results' width.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { JobResult } from "@unlearn/protocol";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { MIGRATIONS_FOLDER, openStore } from "./index.ts";

const tmp = mkdtempSync(join(tmpdir(), "unlearn-db-fused-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The migrations as they were before 0005: its SQL file and journal entry removed. */
function before0005(): string {
  const folder = join(tmp, "drizzle-0004");
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  rmSync(join(folder, "0005_result_fused_columns.sql"));
  const journalPath = join(folder, "meta/_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8"));
  journal.entries = journal.entries.filter((e: { tag: string }) => e.tag < "0005");
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

const OLD_ROWS = `
  INSERT INTO jobs (id, kind, spec) VALUES ('old-job', 'learn', '{}'), ('new-job', 'learn', '{}');
  INSERT INTO results (job_id, accuracies, accuracy_mean, accuracy_std, steps_run, wall_ms, ms_per_step, engine, worker)
    VALUES ('old-job', '{0.5,0.75}', 0.625, 0.125, 10, 1, 0.1, 'onnx', 'w');`;

async function checkMigrated(url: string): Promise<void> {
  const store = await openStore(url);
  try {
    const old = await store.getResult("old-job");
    expect(old).toMatchObject({ jobId: "old-job", accuracies: [0.5, 0.75] });
    expect(old!.fusedColumns).toBeUndefined();
    const fused = JobResult.fromPartial({
      jobId: "new-job",
      ok: true,
      accuracies: [0.5],
      stepsRun: 3,
      engine: "reference",
      fusedColumns: 40,
    });
    await store.saveResult(fused);
    expect((await store.getResult("new-job"))!.fusedColumns).toBe(40);
  } finally {
    await store.close();
  }
}

describe("migration 0005: results.fused_columns", () => {
  it("adds the column to an existing PGlite directory (null for old results)", async () => {
    const dir = join(tmp, "pglite");
    const client = new PGlite(dir);
    await migratePglite(drizzlePglite({ client }), { migrationsFolder: before0005() });
    await client.exec(OLD_ROWS);
    await client.close();
    await checkMigrated(dir);
  }, 60_000);

  it("adds the column to an existing PostgreSQL database", async (ctx) => {
    const server = `postgres://${process.env.PGUSER || "postgres"}@${process.env.PGHOST || "127.0.0.1"}:${process.env.PGPORT || "5432"}`;
    const admin = postgres(`${server}/postgres`, { max: 1, connect_timeout: 3, onnotice: () => {} });
    const database = `unlearn_fused_${process.pid}_${Date.now()}`;
    try {
      await admin`select 1`;
    } catch (error) {
      await admin.end({ timeout: 1 });
      ctx.skip(`PostgreSQL unreachable: ${(error as Error).message}`);
      return;
    }
    await admin.unsafe(`CREATE DATABASE ${database}`);
    try {
      const sql = postgres(`${server}/${database}`, { max: 1, onnotice: () => {} });
      await migratePostgres(drizzlePostgres(sql), { migrationsFolder: before0005() });
      await sql.unsafe(OLD_ROWS);
      await sql.end();
      await checkMigrated(`${server}/${database}`);
    } finally {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    }
  }, 60_000);
});
