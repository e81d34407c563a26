/**
 * End-to-end: `pnpm results` reads a PGlite directory while a real `pnpm sweep` process writes to
 * it (through the share the sweep opened), and nothing the sweep stored is lost; plus the command
 * lookup of main.ts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SweepSummary } from "@unlearn/db";
import type { ResultRow } from "@unlearn/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { run as results } from "../src/commands/results.ts";
import { cli, jsonOf, startCli } from "./cli.ts";

const dir = mkdtempSync(join(tmpdir(), "unlearn-shared-e2e-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `pnpm results` in this process: its exit code and what it printed. */
async function read(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await results(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("pnpm results while pnpm sweep runs", () => {
  it("reads the sweep's PGlite directory during the run, and every result is there at the end", async () => {
    const config = {
      name: "shared e2e",
      figure: "fig5",
      dataset: "synthetic?n=600&d=8&test=200&classes=2&seed=5",
      engine: "reference",
      lambda: 0.001,
      chains: 4,
      burnIn: 400,
      removals: [1, 10, 50],
      epsilons: [1, 2],
      sigma: 0.05,
    };
    const file = join(dir, "sweep.json");
    writeFileSync(file, JSON.stringify(config));
    const db = join(dir, "db");
    const sweep = startCli(["sweep", "--config", file, "--db", db, "--json", "--workers", "1"]);
    let exited = false;
    void sweep.done.then(() => (exited = true));

    // Wait until the sweep has opened the directory and shares it (its address is in the lock).
    while (!exited && !(existsSync(`${db}.lock`) && readFileSync(`${db}.lock`, "utf8").includes('"url"')))
      await new Promise((r) => setTimeout(r, 200));
    const during: SweepSummary[] = [];
    while (!exited) {
      const r = await read("--db", db, "--json");
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const listed = JSON.parse(r.out) as SweepSummary[];
      if (listed.length > 0) during.push(listed[0]!);
    }
    const ran = await sweep.done;
    expect(ran.code, ran.stderr).toBe(0);
    const summary = jsonOf<{ sweep: string; jobs: number; ran: number }>(ran);

    // Reads happened while the sweep was running, and saw it progress without going back.
    expect(during.filter((s) => s.state === "running").length).toBeGreaterThan(0);
    const done = during.map((s) => s.done);
    expect(done).toEqual([...done].sort((a, b) => a - b));

    // Nothing lost: every job the sweep ran has its result, read after the sweep ended.
    const after = await read("--db", db, "--sweep", summary.sweep, "--json");
    expect(after.code).toBe(0);
    const rows = JSON.parse(after.out) as ResultRow[];
    expect(new Set(rows.map((r) => r.job)).size).toBe(summary.jobs);
    const list = JSON.parse((await read("--db", db, "--json")).out) as SweepSummary[];
    expect(list[0]).toMatchObject({
      id: summary.sweep,
      state: "done",
      done: summary.jobs,
      jobs: summary.jobs,
    });
  }, 300_000);
});

describe("the command line's command lookup", () => {
  it("takes only its own commands: `constructor` is an unknown command, not a crash", async () => {
    const r = await cli(["constructor"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^error: unknown command "constructor" \(commands: sweep, results, [a-z, -]+\)\n\(run `unlearn --help` for the commands\)\n$/,
    );
    const sub = await cli(["sweep", "constructor"]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toMatch(/^error: unexpected argument "constructor"/);
  });
});
