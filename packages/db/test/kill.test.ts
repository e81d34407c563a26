import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../src/index.ts";
import { killWriter } from "./processes.ts";

const dir = mkdtempSync(join(tmpdir(), "unlearn-db-kill-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the writer child until it has acknowledged `acks` writes (or more), then SIGKILLs it mid-loop. */
const writeThenKill = (acks: number) => killWriter(dir, { afterAcks: acks });

describe("PGlite directory under kill -9", () => {
  it("keeps every acknowledged write, and takes new writes after reopening", async () => {
    const first = await writeThenKill(25);
    expect(first.length).toBeGreaterThanOrEqual(25);
    // A second writer on the same directory after the crash: recovery works and the data keeps growing.
    const second = await writeThenKill(10);
    const store = await openStore(dir);
    try {
      const all = [...first, ...second];
      const done = await store.doneJobIds(all);
      expect(all.filter((id) => !done.has(id))).toEqual([]);
      for (const id of all.slice(-3)) expect(await store.getJob(id)).toMatchObject({ state: "done" });
      // The writers' sweep never wrote its end: with its process gone it reads as interrupted.
      expect(await store.getSweep("killed")).toMatchObject({ state: "interrupted" });
    } finally {
      await store.close();
    }
  }, 60_000);
});
