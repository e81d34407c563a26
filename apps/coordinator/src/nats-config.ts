/**
 * `pnpm coordinator nats-config [--coordinator-user NAME] [--worker NAME]…`: prints the nats-server
 * `authorization` block for a least-privilege cluster. Passwords are never in it: each user's password
 * is a reference to an environment variable of the nats-server process (NATS_COORDINATOR_PASSWORD,
 * NATS_WORKER_PASSWORD, or NATS_WORKER_<NAME>_PASSWORD for a named worker), which nats-server resolves
 * when it loads the file and refuses to start without.
 *
 * The coordinator may do anything (it provisions). A worker may only do what a worker does: bind to
 * its engine's jobs consumer and pull from it, ack its messages, publish results, hand-backs, progress
 * and heartbeats (its own heartbeat subject only), read the sealed chains, write uploads, hear cancels, and receive replies on its own
 * inbox prefix (_INBOX_<user>, see @unlearn/cluster's connectNats). It cannot create or edit a stream
 * or consumer, publish a job, read the jobs, results or uploads streams, or write the chains bucket.
 */
import {
  ANONYMOUS,
  CANCEL_ALL,
  CHAINS_BUCKET,
  HANDBACKS_STREAM,
  inboxPrefix,
  JOBS_STREAM,
  objectStream,
  UPLOADS_BUCKET,
  workerSubject,
} from "@unlearn/cluster";

export interface NatsConfigOptions {
  coordinatorUser: string;
  /** worker users; each gets the same permissions and an inbox of its own */
  workers: string[];
}

const USER = /^[A-Za-z0-9_-]+$/;

/** The environment variable holding a user's password (read by nats-server, not by us). */
export function passwordVariable(user: string, role: "coordinator" | "worker"): string {
  if (role === "coordinator") return "NATS_COORDINATOR_PASSWORD";
  if (user === "worker") return "NATS_WORKER_PASSWORD";
  return `NATS_WORKER_${user
    .replace(/^worker-/, "")
    .toUpperCase()
    .replace(/-/g, "_")}_PASSWORD`;
}

/** What a worker may publish (requests included: a JetStream API call is a publish). */
export function workerPublish(user: string): string[] {
  const chains = objectStream(CHAINS_BUCKET);
  return [
    // bind: the jobs consumer's info (limits), then pulls and acks on it, nothing else of that stream
    "$JS.API.INFO",
    `$JS.API.CONSUMER.INFO.${JOBS_STREAM}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${JOBS_STREAM}.*`,
    `$JS.ACK.${JOBS_STREAM}.>`,
    // what it reports
    "unlearn.results.*",
    "unlearn.handbacks.*",
    "unlearn.progress.*",
    workerSubject(user),
    // the sealed chains, read only: stream info, message gets, and the ephemeral consumer a read uses
    `$JS.API.STREAM.INFO.${chains}`,
    `$JS.API.STREAM.MSG.GET.${chains}`,
    `$JS.API.DIRECT.GET.${chains}`,
    `$JS.API.DIRECT.GET.${chains}.>`,
    `$JS.API.CONSUMER.CREATE.${chains}`,
    `$JS.API.CONSUMER.CREATE.${chains}.>`,
    `$JS.API.CONSUMER.DELETE.${chains}.>`,
    `$JS.FC.${chains}.>`,
    // uploads, write only (chunks and meta; names it cannot guess, checked by the coordinator)
    `$O.${UPLOADS_BUCKET}.C.>`,
    `$O.${UPLOADS_BUCKET}.M.>`,
  ];
}

export function workerSubscribe(user: string): string[] {
  return [`${inboxPrefix(user)}.>`, CANCEL_ALL];
}

const list = (items: string[], indent: string) =>
  `[\n${items.map((s) => `${indent}  ${JSON.stringify(s)}`).join(",\n")}\n${indent}]`;

export function natsAuthorization(options: NatsConfigOptions): string {
  const names = [options.coordinatorUser, ...options.workers];
  for (const name of names)
    if (!USER.test(name))
      throw new Error(`nats-config: user names are letters, digits, '_' or '-', got ${JSON.stringify(name)}`);
  if (new Set(names).size !== names.length) throw new Error("nats-config: user names must differ");
  if (names.includes(ANONYMOUS))
    throw new Error(`nats-config: "${ANONYMOUS}" is reserved (workers without a user)`);
  const coordinator = `    {
      user: ${JSON.stringify(options.coordinatorUser)}
      password: $${passwordVariable(options.coordinatorUser, "coordinator")}
      # provisions streams, consumers and buckets, publishes jobs: everything
      permissions: { publish: ">", subscribe: ">" }
    }`;
  const workers = options.workers.map(
    (user) => `    {
      user: ${JSON.stringify(user)}
      password: $${passwordVariable(user, "worker")}
      permissions: {
        publish: { allow: ${list(workerPublish(user), "        ")} }
        subscribe: { allow: ${list(workerSubscribe(user), "        ")} }
      }
    }`,
  );
  return `# nats-server authorization for unlearn-sweep (pnpm coordinator nats-config).
# Passwords are environment variables of the nats-server process; nothing secret is in this file.
# Handbacks go to the ${HANDBACKS_STREAM} stream; workers connect with NATS_USER/NATS_PASSWORD.
authorization {
  users = [
${[coordinator, ...workers].join(",\n")}
  ]
}
`;
}

/** Parses `nats-config`'s arguments; throws naming the bad one. */
export function natsConfigOptions(args: string[]): NatsConfigOptions {
  const options: NatsConfigOptions = { coordinatorUser: "coordinator", workers: [] };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = args[i + 1];
    if ((flag === "--worker" || flag === "--coordinator-user") && value !== undefined) {
      if (flag === "--worker") options.workers.push(value);
      else options.coordinatorUser = value;
      i++;
    } else throw new Error(`nats-config: unknown or incomplete argument ${JSON.stringify(flag)}`);
  }
  if (options.workers.length === 0) options.workers.push("worker");
  return options;
}

/** The subcommand: prints the block, exit code 2 for bad arguments. */
export function natsConfigCommand(args: string[]): number {
  try {
    process.stdout.write(natsAuthorization(natsConfigOptions(args)));
    return 0;
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
}
