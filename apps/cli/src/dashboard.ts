/**
 * `pnpm sweep --dashboard`: the dashboard (apps/dashboard) beside an embedded sweep, as a child process
 * over the same database: the sweep's process shares its PGlite directory, the dashboard connects to it.
 * The sweep does not wait for it (the first start builds the app, about a minute); its address is
 * printed when it listens.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const DASHBOARD_MAIN = fileURLToPath(new URL("../../dashboard/server/main.ts", import.meta.url));

export interface SweepDashboard {
  /** Resolves with the address once the dashboard listens, or null when it could not start. */
  url: Promise<string | null>;
  stop(): Promise<void>;
  /** After the sweep: with `wait`, keeps the dashboard up until SIGINT or SIGTERM; then stops it. */
  hold(wait: boolean, say: (line: string) => void): Promise<void>;
}

/**
 * Starts the dashboard on a free loopback port. `db` is the sweep's --db (undefined: the child follows
 * the same UNLEARN_DB / DATABASE_URL rule); `say` prints a line to the user.
 */
export function startSweepDashboard(db: string | undefined, say: (line: string) => void): SweepDashboard {
  const args = [DASHBOARD_MAIN, "--port", process.env.DASHBOARD_PORT ?? "0"];
  if (db !== undefined) args.push("--db", db);
  // The same Node and loader flags as this process (tsx runs the CLI), so the TypeScript entry loads.
  const child: ChildProcess = spawn(process.execPath, [...process.execArgv, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  });
  let log = "";
  let stopping = false;
  const exited = new Promise<number>((done) => child.on("exit", (code) => done(code ?? 1)));
  const url = new Promise<string | null>((done) => {
    child.stdout!.on("data", (d: Buffer) => {
      const found = /dashboard: (http:\/\/\S+)/.exec(d.toString());
      if (found) done(found[1]);
    });
    child.stderr!.on("data", (d: Buffer) => {
      log = (log + d.toString()).slice(-4000);
    });
    exited.then((code) => {
      if (!stopping)
        say(`dashboard: exited with code ${code}: ${log.trim().split("\n").slice(-3).join(" | ")}`);
      done(null);
    });
  });
  const handle: SweepDashboard = {
    url,
    async hold(wait, say) {
      const address = wait ? await url : null;
      if (address) {
        say(`the sweep has ended; the dashboard stays at ${address}: Ctrl-C stops it`);
        await new Promise<void>((done) => {
          const stop = () => {
            process.off("SIGINT", stop);
            process.off("SIGTERM", stop);
            done();
          };
          process.on("SIGINT", stop);
          process.on("SIGTERM", stop);
          exited.then(stop);
        });
      }
      await handle.stop();
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopping = true;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  return handle;
}
