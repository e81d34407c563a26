/**
 * A PGlite directory used by several processes at once: the first one hosts it and shares it on a
 * Unix socket; the others read and write through that socket. Real child processes, real sockets.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../src/index.ts";
import { FrameGuard, shareClientOptions, shareOnSocket } from "../src/share.ts";
import { startChild } from "./processes.ts";
import { bind, execute, flush, parse, query, sync, WireClient } from "./wire.ts";

const root = mkdtempSync(join(tmpdir(), "unlearn-db-share-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `db${n++}`);

describe("a PGlite directory shared between processes", () => {
  it("is read by a second process while another writes to it, and nothing written is lost", async () => {
    const dir = freshDir();
    const writer = startChild("./writer.ts", [dir, "60", "written", "exit"]);
    expect(await writer.waitFor(/^role /)).toBe("role host");
    await writer.waitFor(/^ack /);
    // The lock is whole from the start and, once the writer shares the directory, names the address.
    const lock = JSON.parse(readFileSync(`${dir}.lock`, "utf8"));
    expect(lock).toMatchObject({
      pid: writer.child.pid,
      url: `postgres://postgres@/postgres?host=${encodeURIComponent(`${dir}.share`)}`,
      socket: `${dir}.share/.s.PGSQL.5432`,
    });

    const reader = await openStore(dir);
    expect(reader.share).toMatchObject({ role: "client", pid: writer.child.pid, url: lock.url });
    const seen: number[] = [];
    let writerGone = false;
    void writer.exited.then(() => (writerGone = true));
    try {
      // Reads while the writer keeps writing: the stored results only grow and include every ack so
      // far. The writer ends and closes the directory in the middle of this; the reader takes it over.
      for (let after = 0; after < 2; after += writerGone ? 1 : 0) {
        const acked = writer.lines.filter((l) => l.startsWith("ack ")).map((l) => l.slice(4));
        const done = await reader.doneJobIds(acked);
        expect(acked.filter((id) => !done.has(id))).toEqual([]);
        seen.push((await reader.getSweep("written"))?.done ?? 0);
      }
      expect(await writer.exited).toBe(0);
      expect(seen.length).toBeGreaterThan(2);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(reader.share?.role).toBe("host");
      expect(await reader.getSweep("written")).toMatchObject({ state: "done", jobs: 60, done: 60 });
    } finally {
      await reader.close();
    }
  }, 120_000);

  it("waits for a process that is still making the directory, even when only reading", async () => {
    const dir = freshDir();
    const writer = startChild("./writer.ts", [dir, "3", "early", "hold"]);
    // The moment the lock appears the directory is empty or half-made (PGlite takes seconds to make
    // it): a reader must wait for the share, not call it missing or foreign.
    while (!existsSync(`${dir}.lock`)) await new Promise((r) => setTimeout(r, 10));
    const reader = await openStore(dir, { create: false });
    try {
      expect(reader.share).toMatchObject({ role: "client", pid: writer.child.pid });
      await writer.waitFor(/^done$/);
      expect(await reader.getSweep("early")).toMatchObject({ state: "done", done: 3 });
    } finally {
      await reader.close();
      writer.child.stdin!.end();
      expect(await writer.exited).toBe(0);
    }
  }, 120_000);

  it("takes the writes of a process that starts while this one holds the directory", async () => {
    const dir = freshDir();
    const host = await openStore(dir);
    try {
      expect(host.share?.role).toBe("host");
      const writer = startChild("./writer.ts", [dir, "20", "through", "exit"]);
      expect(await writer.waitFor(/^role /)).toBe("role client");
      // The host keeps its own writes going meanwhile: both land.
      await host.createSweep({ id: "mine", name: "host", figure: "none", config: {}, seed: "2" });
      expect(await writer.exited).toBe(0);
      const listed = await host.listSweeps();
      expect(listed.find((s) => s.id === "through")).toMatchObject({ state: "done", jobs: 20, done: 20 });
      expect(listed.find((s) => s.id === "mine")).toBeDefined();
    } finally {
      await host.close();
    }
  }, 120_000);

  it("has one host when three processes open a new directory at once; all their writes land", async () => {
    const dir = freshDir();
    const children = [0, 1, 2].map((i) => startChild("./writer.ts", [dir, "5", `race-${i}`, "hold"]));
    const roles = await Promise.all(children.map((c) => c.waitFor(/^role /)));
    expect(roles.sort()).toEqual(["role client", "role client", "role host"]);
    await Promise.all(children.map((c) => c.waitFor(/^done$/)));
    // Clients first, then the host: a client needs the host to close cleanly.
    const host = children.find((c) => c.lines.includes("role host"));
    for (const c of children.filter((c) => c !== host)) {
      c.child.stdin!.end();
      expect(await c.exited).toBe(0);
    }
    host!.child.stdin!.end();
    expect(await host!.exited).toBe(0);
    const store = await openStore(dir);
    try {
      const sweeps = await store.listSweeps();
      expect(sweeps.map((s) => [s.id, s.done]).sort()).toEqual([
        ["race-0", 5],
        ["race-1", 5],
        ["race-2", 5],
      ]);
    } finally {
      await store.close();
    }
  }, 120_000);

  it("keeps each connection's batch together: another connection's Parse waits for its Sync", async () => {
    // pglite-socket's own queue lets B's Parse replace A's unnamed statement between A's Parse and
    // Bind, so A reads B's row (electric-sql/pglite#1046; checked: A gets "from b" there).
    const host = await openStore(freshDir());
    const a = await WireClient.open(host.share!.url);
    const b = await WireClient.open(host.share!.url);
    try {
      a.send(parse("select 'from a'"), flush());
      await a.until("1"); // ParseComplete: A's batch is open
      b.send(parse("select 'from b'"), bind(), execute(), sync());
      await new Promise((r) => setTimeout(r, 300));
      a.send(bind(), execute(), sync());
      const fromA = await a.until("Z");
      const fromB = await b.until("Z");
      expect([WireClient.values(fromA), WireClient.errors(fromA)]).toEqual([["from a"], []]);
      expect([WireClient.values(fromB), WireClient.errors(fromB)]).toEqual([["from b"], []]);
    } finally {
      a.close();
      b.close();
      await host.close();
    }
  }, 60_000);

  it("keeps a transaction to its connection, and releases a connection that drops mid-batch", async () => {
    const host = await openStore(freshDir());
    const [a, b] = [0, 1].map(() =>
      postgres({ ...shareClientOptions(host.share!.url), max: 1, prepare: false, onnotice: () => {} }),
    );
    try {
      await a!`create table t (v int)`;
      const inTx = a!.begin(async (tx) => {
        await tx`insert into t values (1)`;
        await new Promise((r) => setTimeout(r, 200));
        throw new Error("roll back");
      });
      const outside = b!`insert into t values (2)`;
      await expect(inTx).rejects.toThrow("roll back");
      await outside;
      expect((await a!`select v from t order by v`).map((r) => r.v)).toEqual([2]);
      // A connection that leaves in the middle of its batch does not keep the session.
      const leaver = await WireClient.open(host.share!.url);
      leaver.send(parse("select 1"), flush());
      await leaver.until("1");
      leaver.close();
      expect((await b!`select count(*)::int as n from t`)[0]!.n).toBe(1);
    } finally {
      await Promise.all([a, b].map((sql) => sql!.end({ timeout: 1 })));
      await host.close();
    }
  }, 60_000);
});

describe("the share's protections", () => {
  it("is a socket in a 0700 directory beside the database, and the database directory is 0700", async () => {
    const dir = freshDir();
    const host = await openStore(dir);
    try {
      expect(host.share!.url).toBe(
        `postgres://postgres@/postgres?host=${encodeURIComponent(`${dir}.share`)}`,
      );
      expect(statSync(`${dir}.share`).mode & 0o777).toBe(0o700);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(`${dir}.lock`).mode & 0o777).toBe(0o600);
    } finally {
      await host.close();
    }
    expect(existsSync(`${dir}.share`)).toBe(false);
  }, 60_000);

  it.skipIf(process.getuid?.() !== 0)(
    "cannot be reached by another local user (nobody; needs root to switch)",
    async () => {
      const host = await openStore(freshDir());
      try {
        const { path } = shareClientOptions(host.share!.url);
        const script = `require("net").connect(${JSON.stringify(path)}).on("connect",()=>{console.log("connected");process.exit(0)}).on("error",e=>{console.log(e.code);process.exit(1)})`;
        const as = spawnSync("runuser", ["-u", "nobody", "--", process.execPath, "-e", script], {
          encoding: "utf8",
        });
        expect(as.stdout.trim()).toBe("EACCES");
        const me = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
        expect(me.stdout.trim()).toBe("connected");
      } finally {
        await host.close();
      }
    },
    60_000,
  );

  it("drops a client that keeps a transaction open without a word, and the others go on", async () => {
    const pglite = await PGlite.create();
    const share = await shareOnSocket(pglite, join(root, `idle${n++}`), { idleMs: 400 });
    const other = postgres({ ...shareClientOptions(share.url), max: 1, prepare: false, onnotice: () => {} });
    const stopped = await WireClient.open(share.url);
    try {
      await other`create table t (v int)`;
      // A client stopped in the middle of a transaction (Ctrl-Z): it began, wrote, and went silent.
      stopped.send(query("begin; insert into t values (1)"));
      await stopped.until("Z");
      const started = Date.now();
      await other`insert into t values (2)`;
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(Date.now() - started).toBeLessThan(10_000);
      await stopped.closed;
      // Its transaction was rolled back.
      expect((await other`select v from t order by v`).map((r) => r.v)).toEqual([2]);
    } finally {
      stopped.close();
      await other.end({ timeout: 1 });
      await share.stop();
      await pglite.close();
    }
  }, 60_000);

  it("refuses a message that declares more than the size limit, before buffering it, and keeps serving", async () => {
    const pglite = await PGlite.create();
    const share = await shareOnSocket(pglite, join(root, `cap${n++}`), { maxMessageBytes: 1 << 20 });
    try {
      const big = await WireClient.open(share.url);
      const head = Buffer.alloc(5);
      head.write("Q", 0, "latin1");
      head.writeInt32BE(2_000_000_000, 1);
      big.send(head, Buffer.alloc(1000));
      await big.closed;
      const ok = await WireClient.open(share.url);
      ok.send(parse("select 'still here'"), bind(), execute(), sync());
      expect(WireClient.values(await ok.until("Z"))).toEqual(["still here"]);
      ok.close();
    } finally {
      await share.stop();
      await pglite.close();
    }
  }, 60_000);

  it("FrameGuard follows the framing across chunks: startup, then typed messages", () => {
    const guard = new FrameGuard(100);
    const startup = Buffer.alloc(12);
    startup.writeInt32BE(12, 0);
    startup.writeInt32BE(196608, 4);
    const query = Buffer.from([0x51, 0, 0, 0, 9, 1, 2, 3, 4, 0x53, 0, 0, 0, 4]);
    const stream = Buffer.concat([startup, query]);
    // One byte at a time: every header is split.
    for (const byte of stream) expect(guard.accept(Buffer.from([byte]))).toBe(true);
    expect(guard.accept(Buffer.from([0x51, 0, 0, 0, 101]))).toBe(false);
    expect(new FrameGuard(100).accept(Buffer.from([0, 0, 0, 2, 0, 0, 0, 0]))).toBe(false);
  });
});
