/**
 * End-to-end: `pnpm sweep` through the CLI as a child process, results in PGlite read back with
 * `pnpm results --json`, the figure files written; and a sweep killed with SIGKILL mid-run, resumed.
 */
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { accountantConstants, stepsFor } from "@unlearn/accountant";
import { datasetConstants, loadDataset } from "@unlearn/core";
import type { ResultRow } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import { cli, jsonOf, startCli } from "./cli.ts";

interface SweepJson {
  sweep: string;
  state: "done" | "failed";
  jobs: number;
  failed: number;
  ran: number;
  reused: number;
  figure: { svg: string | null; png: string | null } | null;
}

function tempConfig(config: object): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "unlearn-e2e-"));
  const file = join(dir, "sweep.json");
  writeFileSync(file, JSON.stringify(config));
  return { dir, file };
}

const count = (rows: ResultRow[], kind: string) => rows.filter((r) => r.kind === kind).length;

describe("pnpm sweep (end to end)", () => {
  it("runs a small synthetic Figure 5, stores it in PGlite, prints JSON, and draws the figure", async () => {
    const dataset = "synthetic?n=400&d=5&test=200&classes=2&seed=4";
    const config = {
      name: "e2e fig5",
      figure: "fig5",
      dataset,
      engine: "reference",
      lambda: 0.001,
      chains: 6,
      burnIn: 300,
      removals: [1, 10],
      epsilons: [1, 2],
      sigma: 0.05,
    };
    const { dir, file } = tempConfig(config);
    const db = join(dir, "db");
    const figures = join(dir, "figures");
    const run = await cli([
      "sweep",
      "--config",
      file,
      "--db",
      db,
      "--json",
      "--figures-dir",
      figures,
      "--workers",
      "2",
    ]);
    expect(run.code, run.stderr).toBe(0);
    const out = jsonOf<SweepJson>(run);
    expect(out).toMatchObject({ state: "done", failed: 0, reused: 0 });
    expect(out.sweep).toMatch(/^[0-9a-f]{16}$/);
    expect(out.ran).toBe(out.jobs);
    expect(run.stderr).toMatch(new RegExp(`sweep ${out.sweep}: ${out.jobs} jobs`));
    expect(run.stderr).toMatch(/\d+\/\d+ jobs .* steps\/s {2}ETA/);

    const results = await cli(["results", "--db", db, "--sweep", out.sweep, "--json"]);
    expect(results.code, results.stderr).toBe(0);
    const rows = jsonOf<ResultRow[]>(results);
    // the learn on D (a dependency), 2 removals × 2 budgets of unlearning, 2 retrainings
    expect(rows).toHaveLength(1 + 4 + 2);
    expect([count(rows, "learn"), count(rows, "unlearn"), count(rows, "retrain")]).toEqual([1, 4, 2]);
    expect(new Set(rows.map((r) => r.job)).size).toBe(out.jobs);
    expect(rows.every((r) => r.sweep === out.sweep && r.dataset === dataset && r.chains === 6)).toBe(true);
    for (const r of rows) {
      expect(r.accuracies).toHaveLength(6);
      for (const a of r.accuracies) expect(a >= 0 && a <= 1, `accuracy ${a}`).toBe(true);
      expect(r.accuracyMean).toBeCloseTo(r.accuracies.reduce((s, a) => s + a, 0) / 6, 5);
    }
    expect(
      rows
        .filter((r) => r.figure === "fig5")
        .map((r) => r.series)
        .sort(),
    ).toEqual([
      "retraining",
      "retraining",
      "unlearning ε=1",
      "unlearning ε=1",
      "unlearning ε=2",
      "unlearning ε=2",
    ]);
    // K from the accountant, computed here independently of the planner.
    const ds = await loadDataset(dataset);
    const k = datasetConstants(ds, { lambda: 0.001, smoothness: "data" });
    const c = accountantConstants({ n: k.n, lambda: 0.001, L: k.L });
    for (const r of rows.filter((x) => x.kind === "unlearn")) {
      expect(r.K).toBe(stepsFor(r.epsilon!, 0.05, r.removals, c).K);
      expect(r.sigma).toBe(0.05);
    }

    expect(out.figure).not.toBeNull();
    for (const path of [out.figure!.svg!, out.figure!.png!]) {
      expect(path.startsWith(figures)).toBe(true);
      expect(existsSync(path) && statSync(path).size > 1000, path).toBe(true);
    }
    expect(readFileSync(out.figure!.svg!, "utf8")).toMatch(/<svg/);
  }, 60_000);

  it("resumes a sweep killed with SIGKILL: finished jobs are reused, nothing lost or duplicated", async () => {
    const config = {
      name: "e2e resume",
      figure: "fig5",
      dataset: "synthetic?n=1000&d=20&test=300&classes=2&seed=2",
      engine: "reference",
      lambda: 0.001,
      chains: 10,
      burnIn: 1500,
      removals: [1, 10, 50, 100],
      epsilons: [1, 2],
      sigma: 0.05,
    };
    const { dir, file } = tempConfig(config);
    const db = join(dir, "db");
    // The database by its environment form, UNLEARN_DB (the same as --db).
    const env = { UNLEARN_DB: db };
    const args = ["sweep", "--config", file, "--json", "--workers", "1", "--figures-dir", join(dir, "f")];

    // Kill once the progress line reports two stored results (it is written after each result is stored).
    const first = startCli(args, env);
    let killedAt = "";
    first.child.stderr!.on("data", (d: Buffer) => {
      const m = /(\d+)\/(\d+) jobs/.exec(String(d));
      if (!killedAt && m && Number(m[1]) >= 2 && Number(m[1]) < Number(m[2])) {
        killedAt = m[0];
        first.child.kill("SIGKILL");
      }
    });
    const killed = await first.done;
    expect(killed.signal, `${killed.stderr}`).toBe("SIGKILL");
    expect(killed.stdout).toBe("");
    const sweepId = /sweep ([0-9a-f]{16}): (\d+) jobs/.exec(killed.stderr)!;
    const total = Number(sweepId[2]);

    const before = jsonOf<ResultRow[]>(await cli(["results", "--db", db, "--sweep", sweepId[1]!, "--json"]));
    const finished = new Set(before.map((r) => r.job));
    expect(finished.size).toBeGreaterThanOrEqual(2);
    expect(finished.size, `killed at ${killedAt}`).toBeLessThan(total);

    const rerun = await cli(args, env);
    expect(rerun.code, rerun.stderr).toBe(0);
    const out = jsonOf<SweepJson>(rerun);
    expect(out).toMatchObject({ sweep: sweepId[1], state: "done", jobs: total, failed: 0 });
    expect(out.reused).toBe(finished.size);
    expect(out.ran).toBe(total - finished.size);

    const after = jsonOf<ResultRow[]>(await cli(["results", "--db", db, "--sweep", out.sweep, "--json"]));
    const keys = after.map((r) => `${r.job}/${r.series}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(after.map((r) => r.job)).size).toBe(total);
    // 1 learn + 4 retrain + 4 × 2 unlearning links
    expect(after).toHaveLength(13);
    // The results stored before the kill were not recomputed: identical, wall time included.
    for (const r of before) expect(after.find((a) => a.job === r.job && a.series === r.series)).toEqual(r);
  }, 90_000);
});
