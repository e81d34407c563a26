/**
 * `next build` once per source state: the build is keyed by a hash of the app's sources and config, stored
 * beside the output, so `pnpm dashboard` starts at once after the first run and rebuilds after an edit.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";

/** What the build depends on: the app's folders and config (not server/, which tsx runs directly). */
const SOURCES = ["app", "components", "lib", "next.config.ts", "package.json", "tsconfig.json"];

function files(root: string, path: string): string[] {
  const full = join(root, path);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full)
    .sort()
    .flatMap((name) => files(root, join(path, name)));
}

export function sourceHash(appDir: string): string {
  const hash = createHash("sha256");
  const next = createRequire(join(appDir, "package.json"))("next/package.json") as { version: string };
  hash.update(`next ${next.version}\n`);
  for (const file of SOURCES.flatMap((p) => files(appDir, p))) {
    hash.update(`${relative(appDir, join(appDir, file))}\n`);
    hash.update(readFileSync(join(appDir, file)));
  }
  return hash.digest("hex");
}

const STAMP = ".next/unlearn-source-hash";

/** True when .next holds a production build of the current sources. */
export function buildIsCurrent(appDir: string): boolean {
  const stamp = join(appDir, STAMP);
  return (
    existsSync(join(appDir, ".next/BUILD_ID")) &&
    existsSync(stamp) &&
    readFileSync(stamp, "utf8").trim() === sourceHash(appDir)
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * One builder at a time: two dashboards (or a test run and a dashboard) starting together would both
 * write .next. The lock file holds the builder's pid; a lock whose process is gone is taken over.
 */
async function withBuildLock<T>(appDir: string, fn: () => Promise<T>): Promise<T> {
  const path = join(appDir, ".next-build.lock");
  for (;;) {
    try {
      writeFileSync(path, String(process.pid), { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number(readFileSync(path, "utf8"));
      if (!(Number.isInteger(holder) && holder > 0 && alive(holder))) rmSync(path, { force: true });
      else await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}

/** Runs `next build` unless the build is current; its output goes to `log` (stderr by default). */
export async function ensureBuild(
  appDir: string,
  log: (text: string) => void = (t) => process.stderr.write(t),
): Promise<{ built: boolean; ms: number }> {
  if (buildIsCurrent(appDir)) return { built: false, ms: 0 };
  // Another process may be building these very sources: wait for it, then look again.
  return withBuildLock(appDir, () => build(appDir, log));
}

async function build(appDir: string, log: (text: string) => void): Promise<{ built: boolean; ms: number }> {
  const started = performance.now();
  if (buildIsCurrent(appDir)) return { built: false, ms: 0 };
  const hash = sourceHash(appDir);
  log("dashboard: building the app (next build, once per source change)…\n");
  const nextBin = createRequire(join(appDir, "package.json")).resolve("next/dist/bin/next");
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [nextBin, "build"], {
      cwd: appDir,
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (d: Buffer) => log(d.toString()));
    child.stderr.on("data", (d: Buffer) => log(d.toString()));
    child.on("error", reject);
    child.on("exit", (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new Error(`next build failed with exit code ${code} (its output is above)`);
  writeFileSync(join(appDir, STAMP), `${hash}\n`);
  return { built: true, ms: performance.now() - started };
}
