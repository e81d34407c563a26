import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../src/index.ts";

const dir = mkdtempSync(join(tmpdir(), "unlearn-db-kill-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the writer child until it has acknowledged `acks` writes (or more), then SIGKILLs it mid-loop. */
function writeThenKill(acks: number): Promise<string[]> {
  const writer = fileURLToPath(new URL("./kill-writer.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", writer, dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const acked: string[] = [];
  let stderr = "";
  let buffered = "";
  return new Promise((resolve, reject) => {
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.on("data", (d) => {
      buffered += d;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) if (line.startsWith("ack ")) acked.push(line.slice(4));
      if (acked.length >= acks && child.exitCode === null && !child.killed) child.kill("SIGKILL");
    });
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL") resolve(acked);
      else reject(new Error(`writer exited with code ${code} before it was killed: ${stderr}`));
    });
  });
}

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
