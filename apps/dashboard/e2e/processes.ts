/** The real processes the e2e tests drive: `pnpm sweep`, `pnpm results`, `pnpm accountant` and the dashboard. */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const APP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const ROOT = resolve(APP_DIR, "../..");
const CLI = resolve(ROOT, "apps/cli/src/main.ts");

export interface Running {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  stop(): Promise<void>;
}

/** Node with tsx's loader, as the pnpm scripts run it (`node --import tsx …`). */
const NODE_TSX = ["--import", "tsx"];

/** Starts `node --import tsx args…` in its own process group (stop() ends it and its children only). */
function start(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [...NODE_TSX, ...args], {
    cwd: ROOT,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let text = "";
  child.stdout!.on("data", (d: Buffer) => (text += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number>((ok) =>
    child.on("exit", (code, signal) => ok(code ?? (signal ? 128 : 1))),
  );
  return {
    child,
    output: () => text,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // already gone
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function waitFor<T>(
  what: string,
  fn: () => T | null | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = fn();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `pnpm sweep …` (the CLI entry run by tsx, as pnpm runs it). */
export function startSweep(args: string[], env: Record<string, string> = {}): Running {
  return start([CLI, "sweep", ...args], env);
}

/** The dashboard on a free port; resolves once it prints its address. */
export async function startDashboard(
  args: string[],
  env: Record<string, string> = {},
): Promise<Running & { url: string }> {
  const run = start([resolve(APP_DIR, "server/main.ts"), "--port", "0", ...args], env);
  const url = await Promise.race([
    waitFor("the dashboard's address", () => /dashboard: (http:\/\/\S+\/)/.exec(run.output())?.[1], 120_000),
    run.exited.then((code) => {
      throw new Error(`the dashboard exited with ${code}: ${run.output()}`);
    }),
  ]);
  return { ...run, url };
}

const execFileAsync = promisify(execFile);

/** Runs a CLI command to its end; its stdout. */
export async function cli(args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [...NODE_TSX, CLI, ...args], {
    cwd: ROOT,
    maxBuffer: 64 << 20,
  });
  return stdout;
}
