/**
 * The places the Store tests run against: in-memory PGlite, a PGlite directory, and a throwaway database on
 * the PostgreSQL server at PGHOST:PGPORT (default 127.0.0.1:5432, user postgres, trust auth).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { type Child, startChild } from "./processes.ts";

export interface Backend {
  name: string;
  /** why the backend cannot run here, or null when it can */
  skip: string | null;
  setup(): Promise<string>;
  teardown(): Promise<void>;
}

const serverUrl = (database: string) =>
  `postgres://${process.env.PGUSER || "postgres"}@${process.env.PGHOST || "127.0.0.1"}:${process.env.PGPORT || "5432"}/${database}`;

/** null when the server answers, else the reason it does not. */
async function postgresUnreachable(): Promise<string | null> {
  const sql = postgres(serverUrl("postgres"), { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return null;
  } catch (error) {
    return `PostgreSQL at ${serverUrl("postgres")} unreachable (${(error as Error).message})`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

export async function backends(): Promise<Backend[]> {
  let dir = "";
  let sharedDir = "";
  let host: Child | undefined;
  const database = `unlearn_test_${randomBytes(6).toString("hex")}`;
  return [
    { name: "pglite memory://", skip: null, setup: async () => "memory://", teardown: async () => {} },
    {
      name: "pglite directory",
      skip: null,
      setup: async () => (dir = mkdtempSync(join(tmpdir(), "unlearn-db-"))),
      teardown: async () => rmSync(dir, { recursive: true, force: true }),
    },
    {
      // The whole Store suite as a client of another process that hosts the directory.
      name: "pglite directory shared by another process",
      skip: null,
      async setup() {
        sharedDir = mkdtempSync(join(tmpdir(), "unlearn-db-shared-"));
        host = startChild("./host.ts", [join(sharedDir, "db")]);
        await host.waitFor(/^ready host /);
        return join(sharedDir, "db");
      },
      async teardown() {
        host?.child.stdin?.end();
        await host?.exited;
        rmSync(sharedDir, { recursive: true, force: true });
      },
    },
    {
      name: "postgres",
      skip: await postgresUnreachable(),
      async setup() {
        const admin = postgres(serverUrl("postgres"), { max: 1, onnotice: () => {} });
        await admin.unsafe(`create database ${database}`);
        await admin.end();
        return serverUrl(database);
      },
      async teardown() {
        const admin = postgres(serverUrl("postgres"), { max: 1, onnotice: () => {} });
        await admin.unsafe(`drop database if exists ${database} with (force)`);
        await admin.end();
      },
    },
  ];
}
