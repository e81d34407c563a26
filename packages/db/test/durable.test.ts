/**
 * Durability of a PGlite directory: PostgreSQL runs with fsync on and each commit reaches fsync(2)
 * (durable.ts); a writer SIGKILLed at arbitrary points of its commit loop loses no acknowledged result.
 * (A machine crash cannot be staged here; what can be checked is that every commit is fsynced before
 * it is acknowledged.)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JobResult } from "@unlearn/protocol";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { durableSyncCount } from "../src/durable.ts";
import { openStore } from "../src/index.ts";
import { shareClientOptions } from "../src/share.ts";
import { killWriter } from "./processes.ts";

const root = mkdtempSync(join(tmpdir(), "unlearn-db-durable-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("a PGlite directory's durability", () => {
  it("runs PostgreSQL with fsync on, and a commit makes an fsync(2) before it returns", async () => {
    const store = await openStore(join(root, "settings"));
    const sql = postgres({ ...shareClientOptions(store.share!.url), max: 1, prepare: false });
    try {
      const [row] =
        await sql`select current_setting('fsync') as fsync, current_setting('wal_sync_method') as method`;
      expect(row).toEqual({ fsync: "on", method: "fsync" });
      await store.createSweep({ id: "s", name: "n", figure: "none", config: {}, seed: "1" });
      for (let i = 0; i < 5; i++) {
        const before = durableSyncCount();
        await store.upsertJobs([{ id: `j${i}`, kind: "learn", spec: {}, parentId: null }]);
        await store.saveResult(
          JobResult.fromPartial({ jobId: `j${i}`, ok: true, accuracies: [1], engine: "x" }),
        );
        expect(durableSyncCount() - before).toBeGreaterThanOrEqual(2); // two commits, two WAL syncs
      }
    } finally {
      await sql.end({ timeout: 1 });
      await store.close();
    }
  }, 60_000);

  it("keeps every acknowledged result when the writer is SIGKILLed at arbitrary points of its commits", async () => {
    const dir = join(root, "killed");
    const acked: string[] = [];
    // Seeded delays after the writer's first ack: each kill lands somewhere else in a commit (the
    // insert, the WAL write, the fsync, the reply, the ack).
    const delays = [0, 11, 37];
    for (const delay of delays) acked.push(...(await killWriter(dir, { delayMs: delay })));
    const store = await openStore(dir);
    try {
      const done = await store.doneJobIds(acked);
      expect(acked.length).toBeGreaterThanOrEqual(delays.length);
      expect(acked.filter((id) => !done.has(id))).toEqual([]);
    } finally {
      await store.close();
    }
  }, 120_000);
});
