/**
 * A NATS connection from the environment, the same for the coordinator, the workers and the bench:
 * NATS_URL (comma-separated servers, default nats://127.0.0.1:4222), NATS_USER + NATS_PASSWORD, or
 * NATS_CREDS (a .creds file). Reconnects forever: a restarted nats-server must not end a sweep.
 */
import { readFileSync } from "node:fs";
import {
  type Authenticator,
  connect,
  credsAuthenticator,
  type NatsConnection,
  usernamePasswordAuthenticator,
} from "@nats-io/transport-node";

export class ClusterConfigError extends Error {
  override name = "ClusterConfigError";
}

export interface NatsSettings {
  servers: string[];
  user?: string;
  password?: string;
  credsFile?: string;
}

export function natsSettings(env: NodeJS.ProcessEnv = process.env): NatsSettings {
  const servers = (env.NATS_URL || "nats://127.0.0.1:4222")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of servers)
    if (!/^(nats|tls):\/\/[^\s/]+$/.test(s) && !/^[^\s/:]+:\d+$/.test(s))
      throw new ClusterConfigError(`NATS_URL: expected nats://HOST:PORT[,…], got ${JSON.stringify(s)}`);
  if (Boolean(env.NATS_USER) !== Boolean(env.NATS_PASSWORD))
    throw new ClusterConfigError("NATS_USER and NATS_PASSWORD go together: set both or neither");
  if (env.NATS_CREDS && env.NATS_USER)
    throw new ClusterConfigError("NATS_CREDS and NATS_USER/NATS_PASSWORD exclude each other: pick one");
  return {
    servers,
    user: env.NATS_USER || undefined,
    password: env.NATS_PASSWORD || undefined,
    credsFile: env.NATS_CREDS || undefined,
  };
}

export async function connectNats(settings: NatsSettings, name: string): Promise<NatsConnection> {
  let authenticator: Authenticator | undefined;
  if (settings.credsFile) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(settings.credsFile);
    } catch (error) {
      throw new ClusterConfigError(
        `NATS_CREDS: cannot read ${settings.credsFile}: ${(error as Error).message}`,
      );
    }
    authenticator = credsAuthenticator(creds);
  } else if (settings.user) {
    authenticator = usernamePasswordAuthenticator(settings.user, settings.password);
  }
  try {
    return await connect({
      servers: settings.servers,
      name,
      authenticator,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      waitOnFirstConnect: false,
    });
  } catch (error) {
    throw new Error(`cannot connect to NATS at ${settings.servers.join(",")}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
