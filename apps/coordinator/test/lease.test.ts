/**
 * The lease on a real PostgreSQL database: one holder at a time, a second waits (standing by) and
 * takes it when the holder lets go or its connection dies; the old holder learns it lost the lease.
 */
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LEASE_KEY, Lease } from "../src/lease.ts";
import { createDatabase, waitFor } from "./harness.ts";

let db: ReturnType<typeof createDatabase>;
let admin: postgres.Sql;

beforeAll(() => {
  db = createDatabase();
  admin = postgres(db.url, { max: 1, onnotice: () => {} });
});

afterAll(async () => {
  await admin?.end();
  db?.drop();
});

/** The backend pid holding the lease in this test's database, if any. */
async function holder(): Promise<number | undefined> {
  const rows = await admin`
    select pid from pg_locks
    where locktype = 'advisory' and granted and objid = ${LEASE_KEY}
      and database = (select oid from pg_database where datname = current_database())`;
  return rows[0]?.pid;
}

describe("the coordinators' lease", () => {
  it("has one holder; a second stands by and takes it within a retry once the first lets go", async () => {
    const a = await Lease.acquire(db.url, { retryMs: 200 });
    const said: string[] = [];
    let bHeld = false;
    const b = Lease.acquire(db.url, { retryMs: 200, log: (l) => said.push(l) }).then((l) => {
      bHeld = true;
      return l;
    });
    await waitFor("b to stand by", () => said.includes("another coordinator holds the lease: standing by"));
    await new Promise((r) => setTimeout(r, 500));
    expect(bHeld).toBe(false);
    const first = await holder();
    await a.release();
    const t0 = performance.now();
    const lease = await b;
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(await holder()).not.toBe(first);
    await lease.release();
    expect(await holder()).toBeUndefined();
  });

  it("passes to the standby when the holder's connection dies; the old holder hears it lost the lease", async () => {
    // The holder checks seldom here, so the standby (retrying every 100 ms) is first to the free lock.
    const a = await Lease.acquire(db.url, { retryMs: 200, checkMs: 3000 });
    const lost: string[] = [];
    a.watch((why) => lost.push(why));
    const pid = (await holder())!;
    const b = Lease.acquire(db.url, { retryMs: 100 });
    await admin`select pg_terminate_backend(${pid})`;
    const lease = await b;
    expect(await holder()).not.toBe(pid);
    await waitFor("a to hear it lost the lease", () => lost.length === 1, 10_000);
    expect(lost[0]).toMatch(/another coordinator took it|another coordinator took the lease/);
    await lease.release();
    await a.release();
  });

  it("takes the lease back on a new connection when its connection was dropped and nobody else took it", async () => {
    const said: string[] = [];
    const a = await Lease.acquire(db.url, { checkMs: 200, log: (l) => said.push(l) });
    const lost: string[] = [];
    a.watch((why) => lost.push(why));
    const pid = (await holder())!;
    await admin`select pg_terminate_backend(${pid})`;
    await waitFor("a to take it again", () =>
      said.includes("the lease's connection was dropped; lease taken again"),
    );
    const again = await holder();
    expect(again).toBeDefined();
    expect(again).not.toBe(pid);
    expect(lost).toEqual([]);
    await a.release();
  });
});
