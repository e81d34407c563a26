/**
 * pnpm → sh -c → node, as `pnpm worker` runs: killing the launcher (pnpm) with SIGKILL must take the
 * node process with it, and it does not while the node process has no exitWithParent.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "unlearn-parent-"));
const probe = join(dir, "probe.ts");
writeFileSync(
  probe,
  `import { exitWithParent } from ${JSON.stringify(new URL("./parent.ts", import.meta.url).pathname)};
if (process.env.WATCH === "1") exitWithParent(undefined, 100);
process.stdout.write(String(process.pid) + "\\n");
setInterval(() => {}, 1000);
`,
);
// The launcher stands in for pnpm: it runs the probe through sh -c and waits.
const launcherFile = join(dir, "launcher.cjs");
writeFileSync(
  launcherFile,
  `require("child_process").spawn("sh", ["-c", process.argv[2]], { stdio: "inherit" });
setInterval(() => {}, 1000);
`,
);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function launch(watch: boolean): Promise<{ launcher: number; probe: number }> {
  const command = `${process.execPath} --import tsx ${probe}`;
  const launcher = spawn(process.execPath, [launcherFile, command], {
    env: { ...process.env, WATCH: watch ? "1" : "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const pid = await new Promise<number>((resolve, reject) => {
    launcher.stdout!.on("data", (d) => resolve(Number(String(d).trim())));
    launcher.on("exit", () => reject(new Error("launcher exited early")));
  });
  launcher.stdout!.destroy();
  return { launcher: launcher.pid!, probe: pid };
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("exitWithParent", () => {
  it("ends the process when the launcher above its shell is SIGKILLed", async () => {
    const { launcher, probe } = await launch(true);
    process.kill(launcher, "SIGKILL");
    for (let i = 0; i < 50 && alive(probe); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive(probe)).toBe(false);
  }, 30_000);

  it("is what makes the difference: without it the process stays, orphaned", async () => {
    const { launcher, probe } = await launch(false);
    process.kill(launcher, "SIGKILL");
    await new Promise((r) => setTimeout(r, 1500));
    expect(alive(probe)).toBe(true);
    process.kill(probe, "SIGKILL");
  }, 30_000);
});
