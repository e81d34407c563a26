/**
 * Ctrl-C as a user sends it: SIGINT to the whole process group of `pnpm sweep` (node and the worker
 * threads running onnxruntime) while a job runs. It must stop cleanly: exit 130, no native abort
 * ("terminate called after throwing an instance of 'Napi::Error'", exit 134, seen before the fix),
 * `cancelled: true` in --json, the store's lock released, and the sweep stored as interrupted.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, jsonOf, ROOT } from "./cli.ts";

interface Summary {
  id: string;
  state: string;
  error: string | null;
  done: number;
  jobs: number;
}

describe("Ctrl-C during pnpm sweep", () => {
  it("stops cleanly with exit 130, cancelled in the JSON, and the sweep stored as interrupted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "unlearn-sigint-"));
    const file = join(dir, "sweep.json");
    // onnx: the engine whose in-flight session.run aborted the process natively when its worker was
    // terminated. A learn on D of 8000 steps runs for many seconds here, so the signal lands mid-job.
    writeFileSync(
      file,
      JSON.stringify({
        name: "sigint",
        figure: "fig5",
        dataset: "synthetic?n=4000&d=64&test=500&classes=2&seed=3",
        engine: "onnx",
        lambda: 0.001,
        chains: 4,
        burnIn: 8000,
        removals: [1, 10],
        epsilons: [1],
        sigma: 0.05,
      }),
    );
    const db = join(dir, "db");
    // The command `pnpm sweep` runs (package.json), in a process group of its own as a terminal makes
    // one. (Through pnpm a shell sees the same 130; pnpm spawned from Node re-raises the signal
    // instead of returning the code, so the test runs the command pnpm runs.)
    const args = ["--import", "tsx", "apps/cli/src/main.ts", "sweep", "--config", file, "--db", db];
    const child = spawn(process.execPath, [...args, "--json", "--workers", "1"], {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, UNLEARN_PROGRESS_LOG_MS: "500" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    const midJob = new Promise<void>((resolve) => {
      child.stderr!.on("data", (d) => {
        stderr += d;
        // A progress line of the running learn job with steps done: onnx is computing right now.
        if (/learn 8000 steps {2}\[[#-]+\] +[1-9]\d*\/8000/.test(stderr)) resolve();
      });
    });
    const exited = new Promise<number | string | null>((resolve) =>
      child.on("close", (code, signal) => resolve(code ?? signal)),
    );
    child.on("error", (error) => {
      throw error;
    });
    await Promise.race([midJob, exited]);
    process.kill(-child.pid!, "SIGINT");
    const code = await exited;

    expect(stderr).not.toMatch(/Napi::Error|terminate called/);
    expect(code, stderr).toBe(130);
    const out = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
      sweep: string;
      cancelled: boolean;
      state: string;
    };
    expect(out).toMatchObject({ cancelled: true, state: "interrupted" });
    // The lock is released: another process opens the database and reads the sweep as interrupted.
    const results = await cli(["results", "--db", db, "--json"]);
    expect(results.code, results.stderr).toBe(0);
    const sweeps = jsonOf<Summary[]>(results);
    expect(sweeps.find((s) => s.id === out.sweep)).toMatchObject({ state: "interrupted", done: 0 });
  }, 120_000);
});
