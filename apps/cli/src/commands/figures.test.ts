import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type SweepSummary } from "@unlearn/db";
import { fixtureRows } from "@unlearn/figures/fixtures";
import { JobResult, JobSpec, jobId, kindFromName, type ResultRow, Smoothness } from "@unlearn/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { type FiguresDeps, fileSafe, run, type SweepSource } from "./figures.ts";

const dir = mkdtempSync(join(tmpdir(), "cli-figures-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const summary = (id: string, over: Partial<SweepSummary> = {}): SweepSummary => ({
  id,
  name: "paper fig5",
  figure: "fig5",
  state: "done",
  error: null,
  owner: null,
  createdAt: new Date(0),
  updatedAt: new Date(0),
  jobs: 25,
  done: 25,
  failed: 0,
  ...over,
});

/** An in-memory stand-in for the Store: the sweeps it lists and the rows each returns. */
function fakeStore(sweeps: Record<string, { summary: SweepSummary; rows: ResultRow[] }>) {
  const state = { closed: false, location: "" as string | undefined };
  const open = async (location?: string): Promise<SweepSource> => {
    state.location = location;
    return {
      location: location ?? "default",
      listSweeps: async () => Object.values(sweeps).map((s) => s.summary),
      sweepResults: async (id: string) => sweeps[id].rows,
      close: async () => {
        state.closed = true;
      },
    };
  };
  return { open, state };
}

async function capture(argv: string[], openStoreFn?: FiguresDeps["openStore"]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { openStore: openStoreFn, out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out, err: err.join("\n") };
}

describe("figures command with a stand-in store", () => {
  const fig5 = { summary: summary("a1b2c3d4e5f60718"), rows: fixtureRows.fig5 };

  it("draws the sweep's figure (read from its rows) to SVG and PNG and prints the paths", async () => {
    const { open, state } = fakeStore({ [fig5.summary.id]: fig5 });
    const outDir = join(dir, "plain");
    const r = await capture(["--sweep", "a1b2", "--out", outDir, "--db", "memory://"], open);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toEqual([join(outDir, "fig5.svg"), join(outDir, "fig5.png")]);
    expect(readFileSync(join(outDir, "fig5.svg"), "utf8")).toContain("unlearning ε=0.5");
    expect(state).toEqual({ closed: true, location: "memory://" });
  });

  it("writes one format when asked, and a file per dataset for a sweep over several", async () => {
    const cifar = fixtureRows.fig5.map((row) => ({ ...row, dataset: "cifar10-3v8", job: `${row.job}c` }));
    const both = { summary: fig5.summary, rows: [...fig5.rows, ...cifar] };
    const { open } = fakeStore({ [fig5.summary.id]: both });
    const outDir = join(dir, "datasets");
    const r = await capture(["--sweep", fig5.summary.id, "--out", outDir, "--format", "png"], open);
    expect(r.code).toBe(0);
    expect(readdirSync(outDir).sort()).toEqual(["fig5-cifar10-3v8.png", "fig5-mnist-3v8.png"]);
  });

  it("keeps files inside --out whatever the dataset string says (its seed is free text)", async () => {
    const evil = "synthetic?n=10&d=2&seed=../../../escaped";
    const rows = [
      ...fig5.rows,
      ...fixtureRows.fig5.map((row) => ({ ...row, dataset: evil, job: `${row.job}e` })),
    ];
    const { open } = fakeStore({ [fig5.summary.id]: { summary: fig5.summary, rows } });
    const outDir = join(dir, "evil", "out");
    const r = await capture(["--sweep", fig5.summary.id, "--out", outDir, "--format", "svg"], open);
    expect(r.code).toBe(0);
    expect(readdirSync(outDir).sort()).toEqual([
      "fig5-mnist-3v8.svg",
      "fig5-synthetic_n=10_d=2_seed=.._.._.._escaped.svg",
    ]);
    expect(readdirSync(join(dir, "evil"))).toEqual(["out"]); // unsanitised, escaped.svg would be here
    expect([fileSafe("..."), fileSafe(""), fileSafe("a/b\\c d")]).toEqual(["_", "_", "a_b_c_d"]);
  });

  it("says when a sweep is unfinished and still draws what is stored", async () => {
    const running = { summary: summary("feedbeef00000000", { state: "running", done: 10 }), rows: fig5.rows };
    const { open } = fakeStore({ [running.summary.id]: running });
    const r = await capture(["--sweep", "feed", "--out", join(dir, "running"), "--format", "svg"], open);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/not finished \(10 of 25 jobs done\)/);
    expect(r.out[1]).toBe(join(dir, "running", "fig5.svg"));
  });

  it("names an unknown or ambiguous sweep (exit 2) and an empty result set (exit 1)", async () => {
    const empty = { summary: summary("a1ffff0000000000", { done: 0 }), rows: [] };
    const deps = fakeStore({ [fig5.summary.id]: fig5, [empty.summary.id]: empty });
    const unknown = await capture(["--sweep", "zzz"], deps.open);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toBe(
      `error: --sweep "zzz": unknown sweep id (stored: a1b2c3d4e5f60718, a1ffff0000000000)\n(run \`pnpm figures --help\` for the options)`,
    );
    const ambiguous = await capture(["--sweep", "a1"], deps.open);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.err).toMatch(/"a1" is ambiguous/);
    const none = await capture(["--sweep", "a1ff"], deps.open);
    expect(none.code).toBe(1);
    expect(none.err).toBe(
      "error: sweep a1ffff0000000000 (paper fig5) has no results yet (0 of 25 jobs done, state done)",
    );
    expect(deps.state.closed).toBe(true);
  });

  it("reports rows that cannot make the figure, naming the row", async () => {
    const broken = fixtureRows.fig5.map((row) =>
      row.series === "retraining" ? { ...row, removals: 0 } : row,
    );
    const { open } = fakeStore({ [fig5.summary.id]: { summary: fig5.summary, rows: broken } });
    const r = await capture(["--sweep", fig5.summary.id, "--out", join(dir, "broken")], open);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/series "retraining"\) has removals = 0, which a logarithmic axis cannot show/);
    const deps = fakeStore({
      [fig5.summary.id]: { summary: fig5.summary, rows: fixtureRows.fig5.slice(0, 1) },
    });
    const onlyDependencies = await capture(["--sweep", fig5.summary.id], deps.open);
    expect(onlyDependencies.code).toBe(1);
    expect(onlyDependencies.err).toMatch(/results only for jobs its figure builds on/);
  });

  it("checks its flags before opening the database", async () => {
    const never: FiguresDeps["openStore"] = () => Promise.reject(new Error("must not open"));
    for (const [argv, message] of [
      [[], /--sweep ID is required/],
      [["--sweep", "x", "--format", "pdf"], /--format must be one of svg, png, both, got "pdf"/],
      [["--sweep", "x", "--colour"], /unknown option --colour/],
      [["--sweep", "x", "--out", ""], /--out needs a value/],
    ] as const) {
      const r = await capture([...argv], never);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.err).toMatch(message);
      // One line for the error, one pointing at --help: not the whole help.
      expect(r.err.split("\n")).toHaveLength(2);
      expect(r.err).toMatch(/^error: .*\n\(run `pnpm figures --help` for the options\)$/);
    }
    const help = await capture(["--help"], never);
    expect(help.code).toBe(0);
    expect(help.out[0]).toMatch(/^usage: pnpm figures --sweep ID/);
  });

  it("reports a database that cannot be opened (exit 1)", async () => {
    const r = await capture(["--sweep", "x"], () =>
      Promise.reject(new Error("cannot open the database at /nope")),
    );
    expect(r).toMatchObject({ code: 1, err: "error: cannot open the database at /nope" });
  });
});

describe("figures command on a real store (PGlite)", () => {
  it("draws Figure 4 from what Store.sweepResults returns", async () => {
    const location = join(dir, "db");
    const sweepId = "0f1e2d3c4b5a6978";
    const store = await openStore(location);
    try {
      await store.createSweep({ id: sweepId, name: "fig4 test", figure: "fig4", config: {}, seed: "7" });
      // One job per fixture row, its spec holding what the row reports, its labels what the planner sets.
      const jobs = fixtureRows.fig4.map((row) => {
        const spec = JobSpec.fromPartial({
          kind: kindFromName(row.kind),
          dataset: row.dataset,
          lambda: 1e-6,
          smoothness: Smoothness.SMOOTHNESS_DATA,
          sigma: row.sigma,
          steps: row.K ?? 10000,
          chains: row.chains,
          removals: row.removals,
          seed: 7n,
        });
        return { row, spec, id: jobId(spec) };
      });
      await store.upsertJobs(jobs.map(({ row, spec, id }) => ({ id, kind: row.kind, spec, parentId: null })));
      await store.linkSweepJobs(
        sweepId,
        jobs.map(({ row, id }) => ({
          jobId: id,
          figure: row.figure,
          series: row.series,
          labels: { epsilon: row.epsilon, K: row.K, alpha: row.alpha },
        })),
      );
      for (const { row, id } of jobs) {
        await store.saveResult(
          JobResult.fromPartial({
            jobId: id,
            ok: true,
            accuracies: row.accuracies,
            wallMs: 1,
            engine: "onnx",
          }),
        );
      }
    } finally {
      await store.close();
    }

    const outDir = join(dir, "real");
    const r = await capture(["--sweep", "0f1e", "--db", location, "--out", outDir]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toEqual([join(outDir, "fig4.svg"), join(outDir, "fig4.png")]);
    const svg = readFileSync(join(outDir, "fig4.svg"), "utf8");
    for (const label of ["S=1", "S=50", "S=100", "unlearning steps K", "privacy budget ε"])
      expect(svg).toContain(label);
    expect(svg).toContain("mnist-3v8 · σ = 0.03 · 100 chains");
    expect(existsSync(join(outDir, "fig4.png"))).toBe(true);
  }, 60_000);
});
