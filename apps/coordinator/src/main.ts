/**
 * `pnpm coordinator`: the cluster's coordinator. One per database is active (lease.ts); others stand
 * by and take over when it dies. Environment: DATABASE_URL (PostgreSQL; migrations are applied on start), NATS_URL (+ NATS_USER/NATS_PASSWORD or NATS_CREDS), GRPC_ADDR (default
 * 127.0.0.1:50051), COORDINATOR_TOKEN (required), GRPC_TLS_CERT + GRPC_TLS_KEY (PEM files; TLS when set).
 * Exit code 2 for a bad environment, 1 when it cannot start.
 */
import { readFileSync } from "node:fs";
import { ServerCredentials } from "@grpc/grpc-js";
import { ClusterConfigError, connectNats, exitWithParent, natsSettings } from "@unlearn/cluster";
import { isPostgresUrl, openStore, type Store } from "@unlearn/db";
import { batchColumnsFromEnv } from "@unlearn/sweep";
import { Lease } from "./lease.ts";
import { ClusterLink } from "./link.ts";
import { natsConfigCommand } from "./nats-config.ts";
import { type Active, coordinatorService, setServing, standbyHealth, startServer } from "./server.ts";
import { SweepManager } from "./sweeps.ts";

export interface CoordinatorEnv {
  databaseUrl: string;
  grpcAddr: string;
  token: string;
  /** COORDINATOR_READ_TOKEN: reads only (list sweeps and workers, results, watch); for dashboards */
  readToken?: string;
  credentials: ServerCredentials;
  tls: boolean;
}

/** A bearer token short enough to guess is refused (the dashboard's DASHBOARD_TOKEN has the same floor). */
const MIN_TOKEN_LENGTH = 16;

function tokenLongEnough(name: string, token: string): void {
  if (token.length < MIN_TOKEN_LENGTH)
    throw new ClusterConfigError(
      `${name} must be at least ${MIN_TOKEN_LENGTH} characters (got ${token.length}); make one with: openssl rand -hex 16`,
    );
}

export function coordinatorEnv(env: NodeJS.ProcessEnv = process.env): CoordinatorEnv {
  const databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) throw new ClusterConfigError("DATABASE_URL is required (postgres://USER@HOST:PORT/DB)");
  const token = env.COORDINATOR_TOKEN;
  if (!token)
    throw new ClusterConfigError(
      "COORDINATOR_TOKEN is required: clients send it as authorization: Bearer <token>",
    );
  tokenLongEnough("COORDINATOR_TOKEN", token);
  const grpcAddr = env.GRPC_ADDR || "127.0.0.1:50051";
  if (!/^[^\s]+:\d+$/.test(grpcAddr))
    throw new ClusterConfigError(`GRPC_ADDR: expected HOST:PORT, got ${JSON.stringify(grpcAddr)}`);
  const cert = env.GRPC_TLS_CERT;
  const key = env.GRPC_TLS_KEY;
  if (Boolean(cert) !== Boolean(key))
    throw new ClusterConfigError("GRPC_TLS_CERT and GRPC_TLS_KEY go together: set both or neither");
  let credentials = ServerCredentials.createInsecure();
  if (cert && key) {
    const read = (name: string, path: string) => {
      try {
        return readFileSync(path);
      } catch (error) {
        throw new ClusterConfigError(`${name}: cannot read ${path}: ${(error as Error).message}`);
      }
    };
    credentials = ServerCredentials.createSsl(
      null,
      [{ cert_chain: read("GRPC_TLS_CERT", cert), private_key: read("GRPC_TLS_KEY", key) }],
      false,
    );
  }
  const readToken = env.COORDINATOR_READ_TOKEN || undefined;
  if (readToken) tokenLongEnough("COORDINATOR_READ_TOKEN", readToken);
  if (readToken === token)
    throw new ClusterConfigError("COORDINATOR_READ_TOKEN must differ from COORDINATOR_TOKEN");
  // Job fusion's cap on the batch width (0 or 1: no fusion): a bad value is refused at start, not mid-sweep.
  try {
    batchColumnsFromEnv(env);
  } catch (error) {
    throw new ClusterConfigError((error as Error).message);
  }
  return { databaseUrl, grpcAddr, token, readToken, credentials, tls: Boolean(cert) };
}

/** Tries `attempt` until it succeeds, saying once why it waits (a service down at start is waited for). */
async function patiently<T>(
  what: string,
  attempt: () => Promise<T>,
  log: (line: string) => void,
): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (tries === 1 || tries % 30 === 0)
        log(`${what} not reachable yet, retrying: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** The lease (lease.ts) on PostgreSQL; a PGlite directory has no other coordinator to exclude. */
async function takeLease(databaseUrl: string, log: (line: string) => void): Promise<Lease | undefined> {
  if (!isPostgresUrl(databaseUrl)) {
    log("database is a PGlite directory: no lease (run one coordinator per directory)");
    return undefined;
  }
  return Lease.acquire(databaseUrl, { log });
}

async function main(): Promise<number> {
  if (process.argv[2] === "nats-config") return natsConfigCommand(process.argv.slice(3));
  let env: CoordinatorEnv;
  let nats: ReturnType<typeof natsSettings>;
  try {
    env = coordinatorEnv();
    nats = natsSettings();
  } catch (error) {
    console.error(`coordinator: ${(error as Error).message}`);
    return 2;
  }
  exitWithParent();
  const log = (line: string) => console.error(`[coordinator] ${line}`);
  // Listening from the start: a standby answers health checks (NOT_SERVING) and refuses calls (UNAVAILABLE).
  let active: Active | undefined;
  const health = standbyHealth();
  const { server, port } = await startServer(
    env.grpcAddr,
    env.credentials,
    coordinatorService({ full: env.token, readOnly: env.readToken }, () => active),
    health,
  );
  log(
    `listening on ${env.grpcAddr.replace(/:\d+$/, `:${port}`)} (${env.tls ? "TLS" : "plaintext"}); not serving until it holds the lease`,
  );
  const lease = await takeLease(env.databaseUrl, log);
  const store: Store = await patiently("the database", () => openStore(env.databaseUrl), log);
  const nc = await patiently("NATS", () => connectNats(nats, "unlearn-coordinator"), log);
  const link = new ClusterLink(nc, { store, log });
  await patiently("NATS JetStream", () => link.start(), log);
  const sweeps = new SweepManager(store, link);
  const resumed = await sweeps.resume();
  if (resumed.length) log(`resumed ${resumed.length} sweep(s): ${resumed.join(", ")}`);
  active = { sweeps, store, link };
  setServing(health, true);
  log(`active: serving; database ${store.location}; NATS ${nats.servers.join(",")}`);
  lease?.watch((why) => {
    // Another coordinator is active now: this one must not write or dispatch any more.
    log(`lease lost: ${why}; exiting (running sweeps continue on the active coordinator)`);
    process.exit(1);
  });
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  // Running sweeps stay "running" in the database: the next coordinator resumes them.
  log("stopping: running sweeps resume when a coordinator starts again");
  setServing(health, false);
  server.forceShutdown();
  await link.close();
  await nc.drain().catch(() => {});
  await store.close();
  await lease?.release();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`coordinator: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
