/**
 * `pnpm coordinator`: the cluster's coordinator. Environment: DATABASE_URL (PostgreSQL; migrations are
 * applied on start), NATS_URL (+ NATS_USER/NATS_PASSWORD or NATS_CREDS), GRPC_ADDR (default
 * 127.0.0.1:50051), COORDINATOR_TOKEN (required), GRPC_TLS_CERT + GRPC_TLS_KEY (PEM files; TLS when set).
 * Exit code 2 for a bad environment, 1 when it cannot start.
 */
import { readFileSync } from "node:fs";
import { ServerCredentials } from "@grpc/grpc-js";
import { ClusterConfigError, connectNats, exitWithParent, natsSettings } from "@unlearn/cluster";
import { openStore, type Store } from "@unlearn/db";
import { ClusterLink } from "./link.ts";
import { coordinatorService, startServer } from "./server.ts";
import { storeTellingStored } from "./stored.ts";
import { SweepManager } from "./sweeps.ts";

export interface CoordinatorEnv {
  databaseUrl: string;
  grpcAddr: string;
  token: string;
  credentials: ServerCredentials;
  tls: boolean;
}

export function coordinatorEnv(env: NodeJS.ProcessEnv = process.env): CoordinatorEnv {
  const databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) throw new ClusterConfigError("DATABASE_URL is required (postgres://USER@HOST:PORT/DB)");
  const token = env.COORDINATOR_TOKEN;
  if (!token)
    throw new ClusterConfigError(
      "COORDINATOR_TOKEN is required: clients send it as authorization: Bearer <token>",
    );
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
  return { databaseUrl, grpcAddr, token, credentials, tls: Boolean(cert) };
}

async function main(): Promise<number> {
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
  const store: Store = await openStore(env.databaseUrl);
  const nc = await connectNats(nats, "unlearn-coordinator");
  const link = new ClusterLink(nc, {
    isStored: async (jobId) =>
      (await store.doneJobIds([jobId])).size > 0 || (await store.getJob(jobId))?.state === "failed",
    log,
  });
  await link.start();
  const sweeps = new SweepManager(
    storeTellingStored(store, (jobId) => link.stored(jobId)),
    link,
  );
  const resumed = await sweeps.resume();
  if (resumed.length) log(`resumed ${resumed.length} sweep(s): ${resumed.join(", ")}`);
  const { server, port } = await startServer(
    env.grpcAddr,
    env.credentials,
    coordinatorService(env.token, sweeps, store, link),
  );
  log(
    `listening on ${env.grpcAddr.replace(/:\d+$/, `:${port}`)} (${env.tls ? "TLS" : "plaintext"}); database ${store.location}; NATS ${nats.servers.join(",")}`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  // Running sweeps stay "running" in the database: the next coordinator resumes them.
  log("stopping: running sweeps resume when a coordinator starts again");
  server.forceShutdown();
  await link.close();
  await nc.drain().catch(() => {});
  await store.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`coordinator: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
