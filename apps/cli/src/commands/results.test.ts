import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "@unlearn/db";
import { JobKind, JobResult, JobSpec, jobId, type ResultRow, Smoothness } from "@unlearn/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./results.ts";

const dir = mkdtempSync(join(tmpdir(), "unlearn-cli-results-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SWEEP = "fig5-0123456789abcdef";
const spec = (over: Partial<JobSpec>) =>
  JobSpec.fromPartial({
    dataset: "mnist-3v8",
    smoothness: Smoothness.SMOOTHNESS_DATA,
    lambda: 1e-6,
    sigma: 0.03,
    chains: 3,
    seed: 7n,
    ...over,
  });
const learn = spec({ kind: JobKind.JOB_KIND_LEARN, steps: 10000 });
const unlearn = spec({ kind: JobKind.JOB_KIND_UNLEARN, steps: 1485, removals: 100, parentId: jobId(learn) });

beforeAll(async () => {
  const store = await openStore(dir);
  try {
    await store.createSweep({ id: SWEEP, name: "paper fig 5", figure: "fig5", config: {}, seed: "7" });
    await store.createSweep({ id: "fig4-aaaa", name: "fig 4", figure: "fig4", config: {}, seed: "7" });
    await store.createSweep({ id: "fig4-bbbb", name: "fig 4 again", figure: "fig4", config: {}, seed: "8" });
    await store.upsertJobs([
      { id: jobId(learn), kind: "learn", spec: learn, parentId: null },
      { id: jobId(unlearn), kind: "unlearn", spec: unlearn, parentId: jobId(learn) },
    ]);
    await store.linkSweepJobs(SWEEP, [
      { jobId: jobId(learn), figure: "fig5", series: "learning", labels: {} },
      {
        jobId: jobId(unlearn),
        figure: "fig5",
        series: 'unlearning ε=1, "S"',
        labels: { epsilon: 1, K: 1485 },
      },
    ]);
    const result = (id: string, accuracies: number[], fusedColumns?: number) =>
      JobResult.fromPartial({
        fusedColumns,
        jobId: id,
        ok: true,
        accuracies,
        stepsRun: 5,
        wallMs: 40,
        engine: "onnx",
        worker: "w",
      });
    await store.saveResult(result(jobId(learn), [0.5, 0.75, 1]));
    // The unlearning ran fused in a column batch of 6 columns; the learn alone.
    await store.saveResult(result(jobId(unlearn), [0.875, 0.875, 0.875], 6));
    await store.setSweepState(SWEEP, "done");
  } finally {
    await store.close();
  }
}, 60_000);

async function results(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("pnpm results", () => {
  it("lists the stored sweeps with their progress", async () => {
    const { code, out } = await results("--db", dir);
    expect(code).toBe(0);
    const lines = out.split("\n");
    expect(lines[0]).toMatch(/^id\s+name\s+figure\s+state\s+done\/jobs\s+failed\s+created$/);
    const row = lines.find((l) => l.startsWith(SWEEP))!;
    expect(row).toMatch(/paper fig 5\s+fig5\s+done\s+2\/2\s+0\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(lines.filter((l) => l.startsWith("fig4-"))).toHaveLength(2);
  }, 30_000);

  it("prints one sweep's results as a table, choosing the sweep by a unique id prefix", async () => {
    const { code, out } = await results("--db", dir, "--sweep", "fig5");
    expect(code).toBe(0);
    expect(out).toContain(`sweep ${SWEEP} (paper fig 5, fig5, done): 2 results`);
    expect(out).toMatch(/kind\s+series\s+dataset\s+σ\s+ε\s+S\s+K\s+chains\s+accuracy \(mean ± std\)/);
    expect(out).toMatch(/learn\s+learning\s+mnist-3v8\s+0\.03\s+–\s+0\s+–\s+3\s+0\.7500 ± 0\.2041/);
    expect(out).toMatch(
      /unlearn\s+unlearning ε=1, "S"\s+mnist-3v8\s+0\.03\s+1\s+100\s+1485\s+3\s+0\.8750 ± 0\.0000/,
    );
  }, 30_000);

  it("--json prints the ResultRow array", async () => {
    const { code, out } = await results("--db", dir, "--sweep", SWEEP, "--json");
    expect(code).toBe(0);
    const rows = JSON.parse(out) as ResultRow[];
    expect(rows).toHaveLength(2);
    expect(rows.find((r) => r.kind === "unlearn")).toMatchObject({
      sweep: SWEEP,
      job: jobId(unlearn),
      dataset: "mnist-3v8",
      sigma: 0.03,
      epsilon: 1,
      removals: 100,
      K: 1485,
      chains: 3,
      accuracyMean: 0.875,
      accuracyStd: 0,
      accuracies: [0.875, 0.875, 0.875],
      fusedColumns: 6,
    });
    expect(rows.find((r) => r.kind === "learn")!.fusedColumns).toBeNull();
  }, 30_000);

  it("--csv prints a header and one quoted-as-needed line per row, accuracies joined with ';'", async () => {
    const { code, out } = await results("--db", dir, "--sweep", SWEEP, "--csv");
    expect(code).toBe(0);
    const lines = out.split("\n");
    expect(lines[0]).toBe(
      "sweep,job,figure,series,kind,dataset,smoothness,sigma,epsilon,removals,K,alpha,epsilon0,batch,chains,accuracyMean,accuracyStd,accuracies,engine,wallMs,fusedColumns",
    );
    expect(lines).toHaveLength(3);
    expect(lines).toContain(
      `${SWEEP},${jobId(learn)},fig5,learning,learn,mnist-3v8,data,0.03,,0,,,,,3,0.75,0.2041241452319315,0.5;0.75;1,onnx,40,`,
    );
    expect(lines).toContain(
      `${SWEEP},${jobId(unlearn)},fig5,"unlearning ε=1, ""S""",unlearn,mnist-3v8,data,0.03,1,100,1485,,,,3,0.875,0,0.875;0.875;0.875,onnx,40,6`,
    );
  }, 30_000);

  it("says why a sweep has more results than jobs (one job, several points)", async () => {
    const store = await openStore(dir);
    try {
      // As Figure 5's S = 1 job (K = 1 at every ε): one job, a point at ε = 0.5 and at ε = 1.
      await store.createSweep({ id: "shared-0001", name: "shared", figure: "fig5", config: {}, seed: "7" });
      await store.linkSweepJobs("shared-0001", [
        {
          jobId: jobId(unlearn),
          figure: "fig5",
          series: "unlearning ε=0.5",
          labels: { epsilon: 0.5, K: 1485 },
        },
        { jobId: jobId(unlearn), figure: "fig5", series: "unlearning ε=1", labels: { epsilon: 1, K: 1485 } },
      ]);
    } finally {
      await store.close();
    }
    const shared = await results("--db", dir, "--sweep", "shared");
    expect(shared.code).toBe(0);
    expect(shared.out).toMatch(/: 2 results, \d\/1 jobs done/);
    expect(shared.out).toContain("one job can be several points");
    // One point per job: no note.
    expect((await results("--db", dir, "--sweep", "fig5")).out).not.toContain("several points");
  }, 30_000);

  it("names an unknown or ambiguous sweep id", async () => {
    const unknown = await results("--db", dir, "--sweep", "fig9");
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('--sweep "fig9": unknown sweep id (stored: ');
    const ambiguous = await results("--db", dir, "--sweep", "fig4");
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.err).toMatch(/--sweep "fig4" is ambiguous: .*fig4-aaaa/);
  }, 30_000);

  it("names a bad flag, rejects --json with --csv, and prints help", async () => {
    const bad = await results("--sweeep", "x");
    expect(bad.code).toBe(2);
    // One error line and one pointer to --help, not the whole help.
    expect(bad.err).toBe("error: unknown option --sweeep\n(run `pnpm results --help` for the options)");
    const both = await results("--json", "--csv");
    expect(both.code).toBe(2);
    expect(both.err).toContain("--json and --csv exclude each other");
    const help = await results("--help");
    expect(help).toMatchObject({ code: 0, err: "" });
    expect(help.out).toContain("--sweep ID");
    expect(help.out).toMatch(/Without --db: \$UNLEARN_DB, else \$DATABASE_URL,\s+else \.unlearn\/db/);
  });

  it("does not create a database to read: it says none exists yet and where it looked", async () => {
    const fresh = join(dir, "..", `${dir.split("/").pop()}-fresh`, "db");
    const { code, err, out } = await results("--db", fresh);
    expect({ code, out }).toEqual({ code: 1, out: "" });
    expect(err).toBe(
      `error: no database at ${fresh} (from --db) yet: nothing has been stored there (pnpm sweep creates it)`,
    );
    expect(existsSync(join(fresh, ".."))).toBe(false);
  });

  it("says in words why a --db path cannot hold a database (exit 2)", async () => {
    const file = join(dir, "PG_VERSION");
    const { code, err } = await results("--db", file);
    expect(code).toBe(2);
    expect(err).toBe(
      `error: ${file} (from --db) is a regular file, not a database directory: give a new or PGlite directory, memory:// or a postgres:// URL\n(run \`pnpm results --help\` for the options)`,
    );
  });

  it("shows a sweep whose process died as interrupted, and says rerunning resumes it", async () => {
    const store = await openStore(dir);
    try {
      await store.createSweep({ id: "ghost-0001", name: "ghost", figure: "fig5", config: {}, seed: "7" });
      const gone = spawnSync(process.execPath, ["-e", ""]).pid;
      await store.setSweepState("ghost-0001", "running", {
        owner: { host: hostname(), pid: gone, startedAt: new Date() },
      });
    } finally {
      await store.close();
    }
    const listed = await results("--db", dir);
    expect(listed.out.split("\n").find((l) => l.startsWith("ghost-0001"))).toMatch(
      /ghost\s+fig5\s+interrupted/,
    );
    const one = await results("--db", dir, "--sweep", "ghost-0001");
    expect(one.out).toMatch(
      /interrupted: its process \d+ on .* ended without finishing it; running its sweep command again resumes it/,
    );
  }, 30_000);

  it("names the database it cannot open", async () => {
    const { code, err } = await results("--db", "postgres://postgres@127.0.0.1:1/none");
    expect(code).toBe(1);
    expect(err).toContain("cannot open the database at postgres://postgres@127.0.0.1:1/none");
  }, 30_000);
});
