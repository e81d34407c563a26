/**
 * `pnpm dashboard [--db PATH|URL] [--port P] [--host H] [--coordinator HOST:PORT]`: builds the Next.js app
 * once (cached by source hash), then serves it with this custom server, which opens the database through
 * @unlearn/db and hands the pages their services. Exit code 2 for a bad command line, 1 for a failure.
 */
import { createServer, type Server } from "node:http";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { exitWithParent } from "@unlearn/cluster";
import { type DbSource, dbHelp, resolveDb } from "@unlearn/db";
import nextModule from "next";
import type createNextServer from "next/dist/server/next.js";
import { registerServices } from "../lib/services.ts";
import { tokenProblem } from "./auth.ts";
import { ensureBuild } from "./build.ts";
import { allowedHosts, answerAll, guard } from "./guard.ts";
import { createServices, type ServerServices } from "./services.ts";

// next is CommonJS: Node's default import is its createServer function, while TypeScript (NodeNext)
// types that default import as the whole module; this names the function's real type.
const next = nextModule as unknown as typeof createNextServer.default;

const APP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const USAGE = `usage: pnpm dashboard [--db PATH|URL] [--port P] [--host H] [--coordinator HOST:PORT]

Serves the dashboard (sweeps, figures, results, accountant, workers) over a database.

options:
  --db PATH|URL          ${dbHelp(25)}
  --port P               port to listen on (default 3000; 0 picks a free one)
  --host H               address to bind (default 127.0.0.1; 0.0.0.0 exposes it: set DASHBOARD_TOKEN)
  --coordinator H:P      the coordinator whose ListWorkers the workers page shows
                         (default: $UNLEARN_COORDINATOR; its token from $UNLEARN_TOKEN: give
                         it the coordinator's COORDINATOR_READ_TOKEN, which can only read)
  --help                 show this help

environment:
  DASHBOARD_TOKEN        when set (16 characters or more), every request needs it (basic-auth
                         password, or once as ?token=…)
  DASHBOARD_HOSTS        more host names browsers may use to reach it, comma-separated (localhost,
                         IP addresses and --host are always allowed; others get 403, except
                         with --host 0.0.0.0 and DASHBOARD_TOKEN, where any name is)`;

export interface DashboardOptions {
  db: string;
  /** where db came from (--db, UNLEARN_DB, DATABASE_URL or the default), for messages */
  source?: DbSource;
  port: number;
  host: string;
  coordinator?: string;
  /** the coordinator's token (UNLEARN_TOKEN) */
  coordinatorToken?: string;
  token?: string;
  /** Host names besides localhost, IP literals and host (DASHBOARD_HOSTS) */
  hosts?: string[];
}

export class UsageError extends Error {
  override name = "UsageError";
}

export function parseOptions(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): DashboardOptions | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        db: { type: "string" },
        port: { type: "string" },
        host: { type: "string" },
        coordinator: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return "help";
  const text = (name: string) => {
    const v = values[name];
    if (typeof v === "string" && v.trim() === "") throw new UsageError(`--${name} needs a value`);
    return typeof v === "string" ? v : undefined;
  };
  const portText = text("port") ?? "3000";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new UsageError(`--port: expected an integer from 0 to 65535, got ${JSON.stringify(portText)}`);
  }
  const db = resolveDb(text("db"), env);
  const token = env.DASHBOARD_TOKEN || undefined;
  const problem = token === undefined ? null : tokenProblem(token);
  if (problem) throw new UsageError(problem);
  return {
    db: db.location,
    source: db.source,
    port,
    host: text("host") ?? "127.0.0.1",
    coordinator: text("coordinator") ?? (env.UNLEARN_COORDINATOR || undefined),
    coordinatorToken: env.UNLEARN_TOKEN || undefined,
    token,
    hosts: (env.DASHBOARD_HOSTS ?? "")
      .split(",")
      .map((h) => h.trim())
      .filter((h) => h !== ""),
  };
}

/** server.listen as a promise; a port in use is said in words. */
function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((ok, fail) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      fail(
        error.code === "EADDRINUSE"
          ? new Error(`port ${port} on ${host} is in use: pick another with --port (0: any free one)`)
          : error,
      ),
    );
    server.listen(port, host, () => ok());
  });
}

/** Starts the dashboard; resolves once it listens. `services` lets tests pass their own. */
export async function startDashboard(
  options: DashboardOptions,
  log: (text: string) => void = (t) => process.stderr.write(t),
): Promise<{ url: string; server: Server; services: ServerServices; close(): Promise<void> }> {
  process.env.NEXT_TELEMETRY_DISABLED = "1";
  await ensureBuild(APP_DIR, log);
  const services = createServices({
    db: options.db,
    source: options.source,
    coordinator: options.coordinator,
    coordinatorToken: options.coordinatorToken,
  });
  registerServices(services);
  // Opened now so a bad database shows in the log at once; the pages show the same error until it works.
  await services.sweeps().catch((error: Error) => log(`dashboard: ${error.message}\n`));
  const app = next({ dev: false, dir: APP_DIR, hostname: options.host, port: options.port });
  const handle = app.getRequestHandler();
  await app.prepare();
  const server = createServer(
    guard((req, res) => handle(req, res), {
      token: options.token,
      hosts: allowedHosts(options.host, options.hosts, options.token),
      log,
    }),
  );
  answerAll(server);
  try {
    await listen(server, options.port, options.host);
  } catch (error) {
    // Nothing is served: release the database (a PGlite directory's lock) before reporting.
    await app.close().catch(() => {});
    await services.close().catch(() => {});
    throw error;
  }
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}/`,
    server,
    services,
    async close() {
      await new Promise<void>((ok) => server.close(() => ok()));
      server.closeAllConnections();
      await app.close();
      await services.close();
    },
  };
}

async function main(argv: string[]): Promise<number> {
  let options: DashboardOptions | "help";
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`dashboard: ${error.message} (see pnpm dashboard --help)\n`);
    return 2;
  }
  if (options === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (options.host !== "127.0.0.1" && options.host !== "localhost" && !options.token) {
    process.stderr.write(`dashboard: warning: listening on ${options.host} without DASHBOARD_TOKEN\n`);
  }
  const dashboard = await startDashboard(options);
  process.stdout.write(`dashboard: ${dashboard.url} (database ${dashboard.services.database})\n`);
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    // Killing `pnpm dashboard` (a script's kill $!) must not leave the server running, holding the database.
    exitWithParent(stop);
  });
  await dashboard.close();
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Next keeps timers alive after close(); the dashboard has nothing left to finish.
      setTimeout(() => process.exit(code), 500).unref();
    },
    (error: unknown) => {
      process.stderr.write(`dashboard: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
      process.exit(1);
    },
  );
}
