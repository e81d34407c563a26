import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { JobKind, JobResult, JobSpec, jobId, Smoothness } from "@unlearn/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../test/backends.ts";
import { currentOwner, DbLocationError, meanStd, NoDatabaseError, openStore, type Store } from "./index.ts";

const learnSpec = (over: Partial<JobSpec> = {}) =>
  JobSpec.fromPartial({
    kind: JobKind.JOB_KIND_LEARN,
    dataset: "mnist-3v8",
    lambda: 1e-6,
    smoothness: Smoothness.SMOOTHNESS_DATA,
    sigma: 0.03,
    steps: 10000,
    chains: 4,
    seed: 18446744073709551615n,
    ...over,
  });

let counter = 0;
/** Ids unique within a test run, so the tests share one store per backend without seeing each other. */
const uid = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${counter++}`;

const result = (id: string, accuracies: number[], over: Partial<JobResult> = {}) =>
  JobResult.fromPartial({
    jobId: id,
    ok: true,
    accuracies,
    stepsRun: 100,
    wallMs: 1234.5,
    msPerStep: 12.345,
    engine: "onnx",
    worker: "w1",
    artifactKey: `chains/${id}`,
    ...over,
  });

for (const backend of await backends()) {
  const title = backend.skip ? `${backend.name} (skipped: ${backend.skip})` : backend.name;
  describe.skipIf(backend.skip !== null)(`Store on ${title}`, () => {
    let store: Store;
    let location: string;
    beforeAll(async () => {
      location = await backend.setup();
      store = await openStore(location);
    }, 60_000);
    afterAll(async () => {
      await store?.close();
      await backend.teardown();
    }, 60_000);

    /** A sweep with one learn job and an unlearn child, both registered and linked. */
    async function sweepWithJobs() {
      const sweep = uid("sweep");
      const learn = learnSpec({ chains: 3, seed: BigInt(counter) });
      const learnId = jobId(learn);
      const unlearn = learnSpec({
        kind: JobKind.JOB_KIND_UNLEARN,
        steps: 1485,
        removals: 100,
        parentId: learnId,
      });
      const unlearnId = jobId(unlearn);
      await store.createSweep({
        id: sweep,
        name: "test",
        figure: "fig4",
        config: { preset: "fig4" },
        seed: "7",
      });
      await store.upsertJobs([
        { id: learnId, kind: "learn", spec: learn, parentId: null },
        { id: unlearnId, kind: "unlearn", spec: JobSpec.toJSON(unlearn), parentId: learnId },
      ]);
      await store.linkSweepJobs(sweep, [
        { jobId: learnId, figure: "fig4", series: "learn", labels: {} },
        {
          jobId: unlearnId,
          figure: "fig4",
          series: "S=100",
          labels: { epsilon: 1, alpha: 12.5, epsilon0: 40 },
        },
      ]);
      return { sweep, learn, learnId, unlearn, unlearnId };
    }

    it("reports its kind and location", () => {
      expect(store.kind).toBe(backend.name === "postgres" ? "postgres" : "pglite");
      expect(store.location).toBe(location === "memory://" ? "memory://" : location);
      if (backend.name.startsWith("pglite directory")) {
        const role = backend.name.includes("shared") ? "client" : "host";
        expect(store.share).toMatchObject({
          role,
          url: expect.stringMatching(/^postgres:\/\/postgres@\/postgres\?host=%2F/),
        });
      } else expect(store.share).toBeUndefined();
    });

    it("createSweep is idempotent on id and setSweepState moves the state", async () => {
      const id = uid("sweep");
      const s = { id, name: "fig 5", figure: "fig5", config: { grid: [1, 2] }, seed: "18446744073709551615" };
      expect(await store.createSweep(s)).toEqual({ created: true });
      expect(await store.createSweep({ ...s, name: "other" })).toEqual({ created: false });
      let listed = (await store.listSweeps()).find((x) => x.id === id)!;
      expect(listed).toMatchObject({
        name: "fig 5",
        figure: "fig5",
        state: "running",
        jobs: 0,
        done: 0,
        failed: 0,
      });
      expect(listed.createdAt).toBeInstanceOf(Date);
      expect(Math.abs(listed.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
      await store.setSweepState(id, "done");
      listed = (await store.listSweeps()).find((x) => x.id === id)!;
      expect(listed.state).toBe("done");
      await expect(store.setSweepState("no-such-sweep", "done")).rejects.toThrow(
        /unknown sweep "no-such-sweep"/,
      );
      await expect(store.setSweepState(id, "paused" as "done")).rejects.toThrow(/state must be one of/);
      await expect(store.createSweep({ ...s, id: uid("sweep"), seed: "-1" })).rejects.toThrow(
        /seed must be a uint64/,
      );
    });

    it("a running sweep whose owner process is gone reads as interrupted, in listSweeps and getSweep", async () => {
      const id = uid("sweep");
      await store.createSweep({ id, name: "ghost", figure: "fig5", config: {}, seed: "1" });
      expect(await store.getSweep(id)).toMatchObject({
        state: "running",
        owner: currentOwner(),
        error: null,
      });
      // A real process that has exited: its pid is not alive.
      const gone = spawnSync(process.execPath, ["-e", ""]).pid;
      const dead = { host: hostname(), pid: gone, startedAt: new Date(Date.now() - 1000) };
      await store.setSweepState(id, "running", { owner: dead });
      const listed = (await store.listSweeps()).find((x) => x.id === id)!;
      expect(listed).toMatchObject({ state: "interrupted", owner: null });
      expect(listed.error).toMatch(new RegExp(`process ${gone} on ${hostname()} ended`));
      expect(await store.getSweep(id)).toMatchObject({ state: "interrupted" });
      // A live pid that started after the owner did is a reused pid, not the owner.
      const reused = { host: hostname(), pid: process.pid, startedAt: new Date(Date.now() - 3_600_000) };
      await store.setSweepState(id, "running", { owner: reused });
      expect((await store.getSweep(id))!.state).toBe("interrupted");
      // Another host's owner cannot be judged from here: it stays running.
      await store.setSweepState(id, "running", { owner: { ...dead, host: "elsewhere.invalid" } });
      expect((await store.getSweep(id))!.state).toBe("running");
      // A stored interrupted state keeps its error; done clears both error and owner.
      await store.setSweepState(id, "interrupted", { error: "stopped by SIGINT" });
      expect(await store.getSweep(id)).toMatchObject({
        state: "interrupted",
        error: "stopped by SIGINT",
        owner: null,
      });
      await store.setSweepState(id, "done", { error: "ignored" });
      expect(await store.getSweep(id)).toMatchObject({ state: "done", error: null, owner: null });
      expect(await store.getSweep("no-such-sweep")).toBeNull();
    });

    it("upsertJobs is idempotent, keeps specs (bigint seeds as decimal strings) and rejects unknown kinds", async () => {
      const spec = learnSpec({ seed: 18446744073709551615n });
      const id = jobId(spec);
      await store.upsertJobs([{ id, kind: "learn", spec, parentId: null }]);
      await store.upsertJobs([{ id, kind: "learn", spec, parentId: null }]);
      const job = await store.getJob(id);
      expect(job).toMatchObject({
        id,
        kind: "learn",
        parentId: null,
        state: "pending",
        attempts: 0,
        error: null,
      });
      expect((job!.spec as { seed: string }).seed).toBe("18446744073709551615");
      expect(jobId(JobSpec.fromJSON(job!.spec))).toBe(id);
      expect(await store.getJob("missing")).toBeNull();
      await expect(
        store.upsertJobs([{ id: "x", kind: "JOB_KIND_LEARN" as "learn", spec: {}, parentId: null }]),
      ).rejects.toThrow(/jobs\[0\] \(x\)\.kind must be one of learn, unlearn/);
    });

    it("upsertJobs takes thousands of jobs in one call (chunked statements, one transaction)", async () => {
      const many = Array.from({ length: 2500 }, (_, i) => {
        const spec = learnSpec({ seed: BigInt(1_000_000 + i), dataset: uid("bulk") });
        return { id: jobId(spec), kind: "learn" as const, spec, parentId: null };
      });
      await store.upsertJobs(many);
      const ids = many.map((j) => j.id);
      expect((await store.doneJobIds(ids)).size).toBe(0);
      await store.saveResult(result(ids[2400], [0.5]));
      expect([...(await store.doneJobIds(ids))]).toEqual([ids[2400]]);
    }, 60_000);

    it("setJobState counts attempts, records errors and rejects unknown jobs", async () => {
      const { learnId } = await sweepWithJobs();
      await store.setJobState(learnId, "running");
      await store.setJobState(learnId, "running");
      expect(await store.getJob(learnId)).toMatchObject({ state: "running", attempts: 2 });
      await store.setJobState(learnId, "failed", { error: "worker lost", attempt: 5 });
      expect(await store.getJob(learnId)).toMatchObject({
        state: "failed",
        attempts: 5,
        error: "worker lost",
      });
      await store.setJobState(learnId, "done");
      expect(await store.getJob(learnId)).toMatchObject({ state: "done", attempts: 5, error: null });
      await expect(store.setJobState("nope", "running")).rejects.toThrow(/unknown job "nope"/);
      await expect(store.setJobState(learnId, "running", { attempt: -1 })).rejects.toThrow(/attempt must be/);
    });

    it("saveResult stores once per job id (duplicates absorbed), marks the job done and feeds doneJobIds", async () => {
      const { learnId, unlearnId } = await sweepWithJobs();
      expect(await store.doneJobIds([learnId, unlearnId, "unknown"])).toEqual(new Set());
      expect(await store.saveResult(result(learnId, [0.5, 0.75, 1]))).toEqual({ inserted: true });
      expect(await store.saveResult(result(learnId, [0, 0, 0], { worker: "w2" }))).toEqual({
        inserted: false,
      });
      expect(await store.doneJobIds([learnId, unlearnId, "unknown"])).toEqual(new Set([learnId]));
      expect(await store.getJob(learnId)).toMatchObject({ state: "done" });
      // getResult gives the first stored result back as it was saved (float32 accuracies).
      expect(await store.getResult(learnId)).toEqual(result(learnId, [0.5, 0.75, 1]));
      expect(await store.getResult(unlearnId)).toBeNull();
      // Concurrent duplicates (a redelivered job finishing twice at once): exactly one insert wins.
      const outcomes = await Promise.all(
        Array.from({ length: 6 }, (_, i) => store.saveResult(result(unlearnId, [0.25 * (i % 4)]))),
      );
      expect(outcomes.filter((o) => o.inserted)).toHaveLength(1);
    });

    it("saveResult of a failed run stores no result and marks the job failed; bad results are refused", async () => {
      const { learnId, unlearnId } = await sweepWithJobs();
      expect(
        await store.saveResult(JobResult.fromPartial({ jobId: learnId, ok: false, error: "OOM" })),
      ).toEqual({
        inserted: false,
      });
      expect(await store.getJob(learnId)).toMatchObject({ state: "failed", error: "OOM" });
      expect(await store.doneJobIds([learnId])).toEqual(new Set());
      await expect(store.saveResult(result(unlearnId, []))).rejects.toThrow(/accuracies is empty/);
      await expect(store.saveResult(result(unlearnId, [0.5, 1.5]))).rejects.toThrow(/accuracies\[1\] = 1.5/);
      await expect(store.saveResult(result(unlearnId, [0.5], { wallMs: Number.NaN }))).rejects.toThrow(
        /wallMs/,
      );
      await expect(store.saveResult(result("not-registered", [0.5]))).rejects.toThrow(
        /job "not-registered" is not stored/,
      );
    });

    it("sweepResults gives one ResultRow per linked job with a result, with spec fields and labels", async () => {
      const { sweep, learnId, unlearnId } = await sweepWithJobs();
      expect(await store.sweepResults(sweep)).toEqual([]);
      await store.saveResult(result(learnId, [0.5, 0.75, 1]));
      // The unlearning ran fused in a column batch of 40 columns (job fusion's provenance); the learn alone.
      await store.saveResult(result(unlearnId, [0.875, 0.875, 0.875, 0.875], { fusedColumns: 40 }));
      // The same job drawn in a second series of the same sweep gives a second row.
      await store.linkSweepJobs(sweep, [
        { jobId: unlearnId, figure: "fig4", series: "S=100 again", labels: { K: 7 } },
      ]);
      const rows = await store.sweepResults(sweep);
      expect(rows.map((r) => [r.series, r.kind])).toEqual([
        ["learn", "learn"],
        ["S=100", "unlearn"],
        ["S=100 again", "unlearn"],
      ]);
      const { mean, std } = meanStd([0.5, 0.75, 1]);
      expect(rows[0]).toEqual({
        sweep,
        job: learnId,
        figure: "fig4",
        series: "learn",
        kind: "learn",
        dataset: "mnist-3v8",
        smoothness: "data",
        sigma: 0.03,
        epsilon: null,
        removals: 0,
        K: null,
        alpha: null,
        epsilon0: null,
        batch: null,
        chains: 3,
        accuracyMean: mean,
        accuracyStd: std,
        accuracies: [0.5, 0.75, 1],
        engine: "onnx",
        wallMs: 1234.5,
        fusedColumns: null,
      });
      expect(rows[1]!.fusedColumns).toBe(40);
      expect((await store.getResult(unlearnId))!.fusedColumns).toBe(40);
      expect((await store.getResult(learnId))!.fusedColumns).toBeUndefined();
      // K falls back to the unlearning job's step count; a K label overrides it.
      expect(rows[1]).toMatchObject({
        epsilon: 1,
        alpha: 12.5,
        epsilon0: 40,
        K: 1485,
        removals: 100,
        chains: 4,
      });
      expect(rows[2]).toMatchObject({ epsilon: null, K: 7, accuracyMean: 0.875, accuracyStd: 0 });
      await expect(store.sweepResults("no-such-sweep")).rejects.toThrow(/unknown sweep "no-such-sweep"/);
    });

    it("sweepResults orders series naturally and each series along S", async () => {
      const { sweep, learnId } = await sweepWithJobs();
      const points = [
        { removals: 500, epsilon: 1 },
        { removals: 1, epsilon: 2 },
        { removals: 100, epsilon: 1 },
        { removals: 10, epsilon: 0.5 },
      ];
      const specs = points.map((p) =>
        learnSpec({ kind: JobKind.JOB_KIND_UNLEARN, steps: 10, removals: p.removals, parentId: learnId }),
      );
      await store.upsertJobs(
        specs.map((spec) => ({
          id: jobId(spec),
          kind: "unlearn",
          spec: JobSpec.toJSON(spec),
          parentId: learnId,
        })),
      );
      await store.linkSweepJobs(
        sweep,
        specs.map((spec, i) => ({
          jobId: jobId(spec),
          figure: "fig5",
          series: "unlearning",
          labels: { epsilon: points[i]!.epsilon },
        })),
      );
      for (const spec of specs) await store.saveResult(result(jobId(spec), [0.5]));
      const rows = (await store.sweepResults(sweep)).filter((r) => r.series === "unlearning");
      expect(rows.map((r) => [r.removals, r.epsilon])).toEqual([
        [1, 2],
        [10, 0.5],
        [100, 1],
        [500, 1],
      ]);
      // Series names sort numbers as numbers: S=50 before S=100.
      await store.linkSweepJobs(sweep, [
        { jobId: jobId(specs[0]!), figure: "fig5", series: "S=100", labels: {} },
        { jobId: jobId(specs[1]!), figure: "fig5", series: "S=50", labels: {} },
      ]);
      const series = [...new Set((await store.sweepResults(sweep)).map((r) => r.series))];
      expect(series.indexOf("S=50")).toBeLessThan(series.indexOf("S=100"));
    });

    it("linkSweepJobs: one row per labelled point (idempotent), validates labels and names missing rows", async () => {
      const { sweep, unlearnId } = await sweepWithJobs();
      // The job is already the ε = 1 point of "S=100"; it is the ε = 2 point too (Figure 4, K = 1 for both).
      const link = { jobId: unlearnId, figure: "fig4", series: "S=100", labels: { epsilon: 2 } };
      await store.linkSweepJobs(sweep, [link, link]);
      await store.linkSweepJobs(sweep, [link]);
      await store.saveResult(result(unlearnId, [0.5]));
      const rows = await store.sweepResults(sweep);
      expect(rows.filter((r) => r.series === "S=100").map((r) => r.epsilon)).toEqual([1, 2]);
      await expect(
        store.linkSweepJobs(sweep, [{ ...link, labels: { epsilon: Number.POSITIVE_INFINITY } }]),
      ).rejects.toThrow(/labels\.epsilon must be a finite number/);
      await expect(store.linkSweepJobs(sweep, [{ ...link, labels: { eps: 1 } as never }])).rejects.toThrow(
        /labels\.eps is not a label/,
      );
      await expect(store.linkSweepJobs(sweep, [{ ...link, jobId: "ghost" }])).rejects.toThrow(
        /sweep ".*" or one of its 1 jobs is not stored/,
      );
    });

    it("listSweeps counts a sweep's jobs, done and failed", async () => {
      const { sweep, learnId, unlearnId } = await sweepWithJobs();
      await store.saveResult(result(learnId, [0.5]));
      await store.setJobState(unlearnId, "failed", { error: "boom" });
      const listed = (await store.listSweeps()).find((x) => x.id === sweep)!;
      expect(listed).toMatchObject({ jobs: 2, done: 1, failed: 1 });
      // Newest first.
      const later = uid("sweep");
      await store.createSweep({ id: later, name: "later", figure: "fig3a", config: {}, seed: "1" });
      const ids = (await store.listSweeps()).map((x) => x.id);
      expect(ids.indexOf(later)).toBeLessThan(ids.indexOf(sweep));
    });

    it("putArtifact / getArtifact round-trip float32 chains exactly, replace by key, and check the shape", async () => {
      const key = uid("chains");
      const W = new Float32Array(785 * 100).map((_, i) => Math.sin(i) * 1e3);
      await store.putArtifact(key, new Uint8Array(W.buffer), { shape: [785, 100], dtype: "float32" });
      const back = await store.getArtifact(key);
      expect(back).toBeInstanceOf(Uint8Array);
      expect(new Float32Array(back!.slice().buffer)).toEqual(W);
      const small = new Float32Array([1, -2]);
      await store.putArtifact(key, new Uint8Array(small.buffer), { shape: [2], dtype: "float32" });
      expect(new Float32Array((await store.getArtifact(key))!.slice().buffer)).toEqual(small);
      expect(await store.getArtifact(uid("missing"))).toBeNull();
      await expect(
        store.putArtifact(key, new Uint8Array(12), { shape: [2, 2], dtype: "float32" }),
      ).rejects.toThrow(/needs 16 bytes, got 12/);
    });

    it("appendEvent / listEvents keep a sweep's events in order, with JSON payloads", async () => {
      const { sweep, learnId } = await sweepWithJobs();
      await store.appendEvent({ sweepId: sweep, type: "sweep-started", payload: { jobs: 2, seed: 7n } });
      await store.appendEvent({ sweepId: sweep, jobId: learnId, type: "job-done" });
      const all = await store.listEvents(sweep);
      expect(all.map((e) => [e.type, e.jobId, e.payload])).toEqual([
        ["sweep-started", null, { jobs: 2, seed: "7" }],
        ["job-done", learnId, null],
      ]);
      expect(all[0].at).toBeInstanceOf(Date);
      expect((await store.listEvents(sweep, { afterId: all[0].id })).map((e) => e.type)).toEqual([
        "job-done",
      ]);
      await expect(store.appendEvent({ sweepId: "ghost", type: "x" })).rejects.toThrow(
        /unknown sweep "ghost"/,
      );
    });
  });
}

describe("openStore", () => {
  it("names the location it cannot open", async () => {
    await expect(openStore("postgres://postgres:secret@127.0.0.1:1/none")).rejects.toThrow(
      /cannot open the database at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none: .*ECONNREFUSED/,
    );
  });

  it("refuses an empty location rather than use the working directory", async () => {
    await expect(openStore("  ")).rejects.toThrow(
      /location must be a directory, memory:\/\/ or a postgres:\/\/ URL, got " {2}"/,
    );
  });

  it("meanStd is the population standard deviation", () => {
    expect(meanStd([1, 3])).toEqual({ mean: 2, std: 1 });
  });
});

describe("a PGlite directory", () => {
  const base = mkdtempSync(join(tmpdir(), "unlearn-db-dir-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it("opened twice in one process: the second store goes through the first one's share", async () => {
    const dir = join(base, "twice");
    const first = await openStore(dir);
    expect(first.share?.role).toBe("host");
    const lock = JSON.parse(readFileSync(`${dir}.lock`, "utf8"));
    expect(lock).toMatchObject({ pid: process.pid, url: first.share!.url });
    const second = await openStore(dir);
    expect(second.share).toMatchObject({ role: "client", pid: process.pid, url: first.share!.url });
    await second.createSweep({ id: "kept", name: "n", figure: "f", config: {}, seed: "1" });
    expect((await first.listSweeps()).map((s) => s.id)).toEqual(["kept"]);
    await second.close();
    await first.close();
    expect(existsSync(`${dir}.lock`)).toBe(false);
    const third = await openStore(dir);
    expect(third.share?.role).toBe("host");
    expect((await third.listSweeps()).map((s) => s.id)).toEqual(["kept"]);
    await third.close();
  }, 60_000);

  it("takes over a lock whose process is gone, and one that is not a lock at all", async () => {
    const dir = join(base, "stale");
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    writeFileSync(
      `${dir}.lock`,
      JSON.stringify({ pid: gone, host: hostname(), started: new Date().toISOString(), nonce: "x" }),
    );
    const store = await openStore(dir);
    expect(store.share?.role).toBe("host");
    await store.close();
    writeFileSync(`${dir}.lock`, "");
    const again = await openStore(dir);
    expect(again.share?.role).toBe("host");
    await again.close();
  }, 60_000);

  it("says in words what is wrong with a location that cannot hold a database", async () => {
    const file = join(base, "a-file");
    writeFileSync(file, "not a database");
    await expect(openStore(file)).rejects.toThrow(
      new RegExp(`^${file} is a regular file, not a database directory`),
    );
    await expect(openStore(join(file, "db"))).rejects.toThrow(
      new RegExp(`cannot use ${file}/db as a database directory: ${file} is a regular file, not a directory`),
    );
    const foreign = join(base, "foreign");
    mkdirSync(foreign);
    writeFileSync(join(foreign, "notes.txt"), "mine");
    await expect(openStore(foreign)).rejects.toThrow(/is a directory of other files, not a PGlite database/);
    await expect(openStore("mysql://x/y")).rejects.toThrow(/unsupported URL/);
    for (const bad of [file, join(file, "db"), foreign]) {
      await expect(openStore(bad)).rejects.toBeInstanceOf(DbLocationError);
    }
  });

  it("reading (create: false) does not create a database: it says none exists yet, and where", async () => {
    const missing = join(base, "missing", "db");
    const error = await openStore(missing, { create: false, source: "default" }).catch((e) => e);
    expect(error).toBeInstanceOf(NoDatabaseError);
    expect(error.message).toBe(
      `no database at ${missing} (the default: no --db, UNLEARN_DB or DATABASE_URL given) yet: nothing has been stored there (pnpm sweep creates it)`,
    );
    expect(existsSync(join(base, "missing"))).toBe(false);
    expect(existsSync(`${missing}.lock`)).toBe(false);
    const empty = join(base, "empty");
    mkdirSync(empty);
    await expect(openStore(empty, { create: false, source: "--db" })).rejects.toThrow(
      `no database at ${empty} (from --db) yet: the directory is empty`,
    );
  });
});
