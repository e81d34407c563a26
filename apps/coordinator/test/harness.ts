/**
 * Real services for the cluster tests: a nats-server (JetStream) on a random loopback port with its own
 * store directory, a PostgreSQL database created on 127.0.0.1:5432 and dropped after, and coordinator /
 * worker processes spawned as `pnpm coordinator` / `pnpm worker` spawn them, killable by pid.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const NATS_SERVER = "/usr/sbin/nats-server";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`,
  );
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  output(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export function spawnProc(args: string[], env: NodeJS.ProcessEnv, name: string): Proc {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const take = (d: Buffer) => {
    output += d;
    if (process.env.CLUSTER_TEST_LOG) process.stderr.write(`[${name}] ${d}`);
  };
  child.stdout!.on("data", take);
  child.stderr!.on("data", take);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    pid: child.pid!,
    output: () => output,
    exited,
    kill: (signal = "SIGKILL") => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
    },
  };
}

export class Nats {
  proc!: Proc;
  readonly dir = mkdtempSync(join(tmpdir(), "unlearn-nats-"));
  constructor(readonly port: number) {}
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
  static async start(): Promise<Nats> {
    const nats = new Nats(await freePort());
    await nats.up();
    return nats;
  }
  async up(): Promise<void> {
    const child = spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.dir], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stderr!.on("data", (d) => (output += d));
    child.stdout!.on("data", (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    this.proc = {
      child,
      pid: child.pid!,
      output: () => output,
      exited,
      kill: (s = "SIGKILL") => child.kill(s),
    };
    await waitFor("nats-server to listen", () => /Server is ready/.test(output), 20_000);
  }
  async down(): Promise<void> {
    this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
  async stop(): Promise<void> {
    await this.down().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A fresh database on the machine's PostgreSQL (127.0.0.1:5432, user postgres, trust). */
export function createDatabase(): { url: string; drop(): void } {
  const name = `unlearn_cluster_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const pg = ["-h", "127.0.0.1", "-p", process.env.PGPORT || "5432", "-U", process.env.PGUSER || "postgres"];
  execFileSync("createdb", [...pg, name]);
  return {
    url: `postgres://${process.env.PGUSER || "postgres"}@127.0.0.1:${process.env.PGPORT || "5432"}/${name}`,
    drop: () => {
      try {
        execFileSync("dropdb", [...pg, "--force", name]);
      } catch {
        // already gone
      }
    },
  };
}

export function spawnWorker(env: NodeJS.ProcessEnv, name = "worker"): Proc {
  return spawnProc(["--import", "tsx", "apps/worker/src/main.ts"], env, name);
}

export function spawnCoordinator(env: NodeJS.ProcessEnv, name = "coordinator"): Proc {
  return spawnProc(["--import", "tsx", "apps/coordinator/src/main.ts"], env, name);
}
