/**
 * The Store at scale and bounded: lookups by id prefix, results in pages, events by type, the bytes a
 * sweep holds and freeing its chains. PGlite in memory and a throwaway PostgreSQL database.
 */
import { JobKind, JobResult, JobSpec, jobId, Smoothness } from "@unlearn/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../test/backends.ts";
import { openStore, type Store, sortResultRows } from "./index.ts";

let counter = 0;
const uid = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${counter++}`;

const spec = (over: Partial<JobSpec>) =>
  JobSpec.fromPartial({
    kind: JobKind.JOB_KIND_LEARN,
    dataset: "synthetic?n=100&d=4",
    lambda: 1e-6,
    smoothness: Smoothness.SMOOTHNESS_DATA,
    sigma: 0.03,
    steps: 10,
    chains: 2,
    seed: BigInt(counter++),
    ...over,
  });

const ok = (id: string) =>
  JobResult.fromPartial({
    jobId: id,
    ok: true,
    accuracies: [0.5, 0.75],
    stepsRun: 10,
    wallMs: 1,
    msPerStep: 0.1,
    engine: "reference",
    worker: "w",
    artifactKey: id,
  });

const chains = (floats: number) => new Uint8Array(new Float32Array(floats).map((_, i) => Math.sin(i)).buffer);

const wanted = ["pglite memory://", "postgres"];
for (const backend of (await backends()).filter((b) => wanted.includes(b.name))) {
  describe.skipIf(backend.skip !== null)(`Store (scale, storage) on ${backend.name}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await openStore(await backend.setup());
    }, 60_000);
    afterAll(async () => {
      await store?.close();
      await backend.teardown();
    }, 60_000);

    /** A sweep of one learn job with `children` unlearn children, all registered and linked. */
    async function sweep(children: number, id = uid("sweep")) {
      const learn = spec({});
      const learnId = jobId(learn);
      const kids = Array.from({ length: children }, (_, i) =>
        spec({ kind: JobKind.JOB_KIND_UNLEARN, removals: i + 1, parentId: learnId }),
      );
      await store.createSweep({ id, name: id, figure: "fig4", config: {}, seed: "1" });
      await store.upsertJobs([
        { id: learnId, kind: "learn", spec: learn, parentId: null },
        ...kids.map((k) => ({ id: jobId(k), kind: "unlearn" as const, spec: k, parentId: learnId })),
      ]);
      await store.linkSweepJobs(id, [
        { jobId: learnId, figure: "", series: "learning on D", labels: {} },
        ...kids.map((k, i) => ({
          jobId: jobId(k),
          figure: "fig4",
          series: `S=${i + 1}`,
          labels: { epsilon: 1 },
        })),
      ]);
      return { id, learnId, kidIds: kids.map(jobId) };
    }

    it("findSweeps: an exact id alone, a prefix's matches, LIKE's wildcards taken literally", async () => {
      const base = uid("find");
      await sweep(0, `${base}-a`);
      await sweep(0, `${base}-ab`);
      await sweep(0, `${base}_x`);
      expect((await store.findSweeps(`${base}-a`)).map((s) => s.id)).toEqual([`${base}-a`]);
      expect((await store.findSweeps(`${base}-`, 10)).map((s) => s.id).sort()).toEqual([
        `${base}-a`,
        `${base}-ab`,
      ]);
      expect((await store.findSweeps(`${base}_`, 10)).map((s) => s.id)).toEqual([`${base}_x`]);
      expect(await store.findSweeps(`${base}%`)).toEqual([]);
      expect((await store.findSweeps(base, 2)).length).toBe(2);
      await expect(store.findSweeps("")).rejects.toThrow(/prefix must be a non-empty string/);
    });

    it("sweepResultsPage: pages in key order cover every row once; sorted they equal sweepResults", async () => {
      const { id, learnId, kidIds } = await sweep(7);
      for (const job of [learnId, ...kidIds]) await store.saveResult(ok(job));
      const seen = [];
      let after: string | undefined;
      let pages = 0;
      do {
        const page = await store.sweepResultsPage(id, { after, limit: 3 });
        expect(page.rows.length).toBeLessThanOrEqual(3);
        seen.push(...page.rows);
        after = page.next ?? undefined;
        pages++;
      } while (after);
      expect(pages).toBe(3);
      expect(seen.map((r) => r.job)).toEqual([...seen.map((r) => r.job)].sort());
      expect(sortResultRows(seen)).toEqual(await store.sweepResults(id));
      await expect(store.sweepResultsPage(id, { after: "nope", limit: 3 })).rejects.toThrow(
        /not a page cursor/,
      );
      await expect(store.sweepResultsPage(id, { limit: 0 })).rejects.toThrow(
        /limit must be a positive integer/,
      );
      await expect(store.sweepResultsPage("no-such", { limit: 1 })).rejects.toThrow(
        /unknown sweep "no-such"/,
      );
    });

    it("countEvents / findEvent read one type of a sweep's events", async () => {
      const { id } = await sweep(0);
      for (const type of ["submitted", "queued", "cancelled", "submitted", "done", "queued"])
        await store.appendEvent({ sweepId: id, type, payload: { type } });
      expect(await store.countEvents(id, "submitted")).toBe(2);
      expect(await store.countEvents(id, "nothing")).toBe(0);
      const first = await store.findEvent(id, ["submitted"], "first");
      const last = await store.findEvent(id, ["submitted", "cancelled"], "last");
      expect(first?.type).toBe("submitted");
      expect(last?.type).toBe("submitted");
      expect(last!.id).toBeGreaterThan(first!.id);
      expect((await store.findEvent(id, ["done"], "last"))?.payload).toEqual({ type: "done" });
      expect(await store.findEvent(id, ["failed"], "last")).toBeNull();
    });

    it("sweepStorage counts a sweep's chains and rows; freeChains keeps only what an unfinished job needs", async () => {
      const { id, learnId, kidIds } = await sweep(2);
      const floats = 784 * 10;
      for (const job of [learnId, kidIds[0]!])
        await store.putArtifact(job, chains(floats), { shape: [10, 784], dtype: "float32" });
      await store.saveResult(ok(learnId));
      await store.saveResult(ok(kidIds[0]!));
      const before = await store.sweepStorage(id);
      expect(before.jobs).toBe(3);
      expect(before.chains).toBe(2);
      // Two float32 chains of 10×784, as stored (incompressible sines: the payload plus a small header).
      expect(before.chainBytes).toBeGreaterThanOrEqual(2 * floats * 4);
      expect(before.chainBytes).toBeLessThan(2 * floats * 4 + 100);
      expect(before.rowBytes).toBeGreaterThan(0);
      expect(before.totalBytes).toBe(before.chainBytes + before.rowBytes);

      // kidIds[1] has no result yet and starts from the learn job: the learn job's chains stay.
      const freed = await store.freeChains(id);
      expect(freed.chains).toBe(1);
      expect(await store.hasArtifacts([learnId, kidIds[0]!])).toEqual(new Set([learnId]));
      await store.saveResult(ok(kidIds[1]!));
      expect((await store.freeChains(id)).chains).toBe(1);
      const after = await store.sweepStorage(id);
      expect(after.chains).toBe(0);
      expect(after.chainBytes).toBe(0);
      await expect(store.sweepStorage("")).rejects.toThrow(/sweep id must be a non-empty string/);
    });

    it("wantsChains: yes for a job another registered job starts from, or one a sweep keeps; no for a leaf", async () => {
      const { learnId, kidIds } = await sweep(1);
      expect(await store.wantsChains(learnId)).toBe(true);
      expect(await store.wantsChains(kidIds[0]!)).toBe(false);
      // Registered again by a sweep that keeps chains: the mark sticks, also when a later sweep does not ask.
      const kid = (await store.getJob(kidIds[0]!))!;
      await store.upsertJobs([
        { id: kid.id, kind: "unlearn", spec: kid.spec, parentId: learnId, keepChains: true },
      ]);
      await store.upsertJobs([{ id: kid.id, kind: "unlearn", spec: kid.spec, parentId: learnId }]);
      expect(await store.wantsChains(kidIds[0]!)).toBe(true);
      expect(await store.wantsChains("never-registered")).toBe(true);
      await expect(store.wantsChains("")).rejects.toThrow(/job id must be a non-empty string/);
    });
  });
}
