/**
 * A nats-server (JetStream) on a random loopback port, started with the authorization block of
 * `pnpm coordinator nats-config` (a coordinator user and worker users), the users' passwords random
 * and given to nats-server through its environment, as in production.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { natsAuthorization, passwordVariable } from "../src/nats-config.ts";
import { freePort, type Proc, waitFor } from "./harness.ts";

export class AuthedNats {
  readonly dir = mkdtempSync(join(tmpdir(), "unlearn-nats-auth-"));
  readonly passwords = new Map<string, string>();
  url = "";
  private proc?: Proc;

  static async start(workers: string[]): Promise<AuthedNats> {
    const nats = new AuthedNats();
    await nats.up(workers);
    return nats;
  }

  private async up(workers: string[]): Promise<void> {
    const port = await freePort();
    this.url = `nats://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {};
    const users: [string, "coordinator" | "worker"][] = [
      ["coordinator", "coordinator"],
      ...workers.map((w): [string, "worker"] => [w, "worker"]),
    ];
    for (const [user, role] of users) {
      // nats-server parses a variable's value as a config value: a password that starts with a digit
      // may read as a number and stop it (README: start with a letter).
      const password = `p${randomBytes(12).toString("hex")}`;
      this.passwords.set(user, password);
      env[passwordVariable(user, role)] = password;
    }
    const conf = join(this.dir, "nats.conf");
    const auth = natsAuthorization({ coordinatorUser: "coordinator", workers });
    writeFileSync(
      conf,
      `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(this.dir, "js")}" }\n${auth}`,
    );
    const child = spawn("/usr/sbin/nats-server", ["-c", conf], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stderr!.on("data", (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    this.proc = {
      child,
      pid: child.pid!,
      output: () => output,
      exited,
      kill: (s = "SIGKILL") => child.kill(s),
    };
    await waitFor(
      "nats-server with the generated config",
      () => /Server is ready/.test(output),
      20_000,
    ).catch((e) => {
      throw new Error(`${e.message}; its output: ${output.slice(-600)}`);
    });
  }

  /** NATS_* variables for a process connecting as `user`. */
  env(user: string): NodeJS.ProcessEnv {
    return { NATS_URL: this.url, NATS_USER: user, NATS_PASSWORD: this.passwords.get(user)! };
  }

  async stop(): Promise<void> {
    this.proc?.kill();
    await this.proc?.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
