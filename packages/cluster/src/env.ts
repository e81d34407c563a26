/**
 * A NATS connection from the environment, the same for the coordinator, the workers and the bench:
 * NATS_URL (comma-separated servers, default nats://127.0.0.1:4222), NATS_USER + NATS_PASSWORD, or
 * NATS_CREDS (a .creds file). Waits for NATS at start (saying so) and reconnects forever: a
 * nats-server that is down or restarting must not end a coordinator, a worker or a sweep; a refused
 * login is a configuration error and throws at once. With NATS_USER, replies come to the inbox prefix
 * _INBOX_<user> (nats-config lets each user subscribe to its own only: no one reads another's replies).
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

/**
 * The settings from the environment. A server given as nats://user:pass@host:port has its credentials
 * moved to user/password, so that `servers` (which the processes print) never carries a password.
 */
export function natsSettings(env: NodeJS.ProcessEnv = process.env): NatsSettings {
  const inUrl = new Set<string>();
  const servers = (env.NATS_URL || "nats://127.0.0.1:4222")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^((?:nats|tls):\/\/)([^@\s/]*)@(.*)$/.exec(s);
      if (!m) return s;
      inUrl.add(m[2]!);
      return `${m[1]}${m[3]}`;
    });
  if (inUrl.size > 0) {
    if (inUrl.size > 1 || env.NATS_USER || env.NATS_CREDS)
      throw new ClusterConfigError(
        "NATS_URL: credentials in the URL go with no NATS_USER/NATS_CREDS, the same for every server (better: NATS_USER and NATS_PASSWORD)",
      );
    const [user, ...rest] = [...inUrl][0]!.split(":");
    env = { ...env, NATS_USER: decodeURIComponent(user!), NATS_PASSWORD: decodeURIComponent(rest.join(":")) };
  }
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

/** The inbox prefix of a user: its replies (pulled jobs, acks of publications) are its own. */
export function inboxPrefix(user: string | undefined): string | undefined {
  return user ? `_INBOX_${user}` : undefined;
}

const refusedLogin = (error: unknown) => /authoriz|authenticat|permission/i.test(String(error));

export interface ConnectOptions {
  /** how often to say it is still waiting for NATS (ms), and how long to wait at most (default: forever) */
  retryMs?: number;
  waitMs?: number;
  log?(line: string): void;
}

export async function connectNats(
  settings: NatsSettings,
  name: string,
  options: ConnectOptions = {},
): Promise<NatsConnection> {
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
  const deadline = Date.now() + (options.waitMs ?? Number.POSITIVE_INFINITY);
  const log = options.log ?? ((line: string) => console.error(`[${name}] ${line}`));
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect({
        servers: settings.servers,
        name,
        authenticator,
        inboxPrefix: inboxPrefix(settings.user),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        waitOnFirstConnect: false,
      });
    } catch (error) {
      const why = `cannot connect to NATS at ${settings.servers.join(",")}: ${(error as Error).message}`;
      if (refusedLogin(error) || Date.now() >= deadline) throw new Error(why, { cause: error });
      const wait = options.retryMs ?? Math.min(5000, 500 * attempt);
      log(`${why}; retrying in ${wait} ms (attempt ${attempt})`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * Job fusion: a width in columns of W from environment variable `name` (UNLEARN_BATCH_COLUMNS on the
 * coordinator, WORKER_BATCH_COLUMNS on a worker): undefined when unset or empty, 0 or 1 for no fusion;
 * anything but an integer ≥ 0 is refused with the variable named.
 */
export function batchColumnsFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new ClusterConfigError(
      `${name} must be an integer ≥ 0 (columns of W; 0 or 1: no fusion), got ${JSON.stringify(raw)}`,
    );
  return n;
}
