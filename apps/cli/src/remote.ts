/**
 * `pnpm sweep` and `pnpm results` against a cluster coordinator (`--coordinator HOST:PORT --token T`,
 * or UNLEARN_COORDINATOR / UNLEARN_TOKEN): the sweep is submitted over gRPC and watched with the same
 * progress line and the same final `--json` object as the embedded mode; results are read from the
 * coordinator with the same output. Ctrl-C detaches: the sweep goes on in the cluster.
 */
import { readFileSync, statSync } from "node:fs";
import type { ServiceError } from "@grpc/grpc-js";
import { type Coordinator, connectCoordinator } from "@unlearn/cluster";
import { featuresKey } from "@unlearn/core";
import { type Store, type SweepSummary, sortResultRows } from "@unlearn/db";
import type {
  Job,
  ResultKind,
  ResultRecord,
  ResultRow,
  SmoothnessName,
  SweepDone,
  SweepEvent,
  SweepInfo,
} from "@unlearn/protocol";
import type { RunEvent, SweepConfig } from "@unlearn/sweep";
import { progressReporter, reportSweepEnd } from "./sweep-report.ts";
import { UsageError } from "./usage.ts";

export interface RemoteTarget {
  address: string;
  token: string;
}

/**
 * The coordinator to use, from the flags or the environment; undefined for the embedded mode. The
 * token comes from --token, else $UNLEARN_TOKEN_FILE (a file only its owner can read), else
 * $UNLEARN_TOKEN. --token works but warns: a command line shows in `ps` to every local user and stays
 * in the shell's history.
 */
export function remoteTarget(
  flags: { coordinator?: string; token?: string },
  env: NodeJS.ProcessEnv = process.env,
  warn: (text: string) => void = (text) => process.stderr.write(text),
): RemoteTarget | undefined {
  const address = flags.coordinator ?? (env.UNLEARN_COORDINATOR || undefined);
  if (!address) {
    if (flags.token !== undefined)
      throw new UsageError("--token needs --coordinator HOST:PORT (or UNLEARN_COORDINATOR)");
    return undefined;
  }
  if (flags.token !== undefined) {
    warn(
      "warning: --token shows in `ps` and your shell history; put the token in UNLEARN_TOKEN or a file named by UNLEARN_TOKEN_FILE (chmod 600)\n",
    );
  }
  const token = flags.token ?? tokenFromFile(env.UNLEARN_TOKEN_FILE) ?? (env.UNLEARN_TOKEN || undefined);
  if (!token)
    throw new UsageError(
      `--coordinator ${address}: a token is required (UNLEARN_TOKEN, UNLEARN_TOKEN_FILE or --token)`,
    );
  if (!/^([a-z]+:\/\/)?[^\s/]+:\d+$/i.test(address))
    throw new UsageError(`--coordinator: expected HOST:PORT, got ${JSON.stringify(address)}`);
  return { address, token };
}

/** The token in UNLEARN_TOKEN_FILE (trimmed), refused when other users may read the file. */
function tokenFromFile(path: string | undefined): string | undefined {
  if (!path) return undefined;
  let text: string;
  try {
    const mode = statSync(path).mode;
    if ((mode & 0o077) !== 0) {
      throw new UsageError(
        `UNLEARN_TOKEN_FILE ${path}: mode ${(mode & 0o777).toString(8)} lets other users read the token (chmod 600 ${path})`,
      );
    }
    text = readFileSync(path, "utf8").trim();
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(
      `UNLEARN_TOKEN_FILE ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  if (text === "") throw new UsageError(`UNLEARN_TOKEN_FILE ${path}: the file is empty`);
  return text;
}

export interface RemoteSweepRequest {
  config?: SweepConfig;
  watch?: string;
  cancel?: string;
  json: boolean;
  figuresDir?: string;
}

function grpcMessage(error: unknown): string {
  const e = error as Partial<ServiceError>;
  return e.details ? `${e.details}` : ((error as Error).message ?? String(error));
}

/** gRPC status codes a client retries on: the coordinator restarting or the network blinking. */
const TRANSIENT = new Set([1, 4, 14]); // CANCELLED (server shutdown), DEADLINE_EXCEEDED, UNAVAILABLE

export async function remoteSweep(target: RemoteTarget, request: RemoteSweepRequest): Promise<number> {
  const coordinator = connectCoordinator(target.address, target.token);
  try {
    if (request.cancel) {
      const r = await coordinator.call("cancelSweep", { sweepId: request.cancel });
      console.error(`sweep ${r.sweepId}: ${r.wasRunning ? "cancelled" : "had already ended"}`);
      return 0;
    }
    let sweepId = request.watch;
    if (!sweepId) {
      const config = await remoteConfig(request.config!);
      const r = await coordinator.call("submitSweep", { configJson: JSON.stringify(config) });
      sweepId = r.sweepId;
      console.error(
        `sweep ${sweepId} submitted to ${target.address}: ${r.jobs} jobs, ${r.cached} already stored`,
      );
    }
    const done = await watchUntilDone(coordinator, sweepId, target);
    if (!done) return 130;
    return await printEnd(coordinator, sweepId, done, request);
  } catch (error) {
    const code = (error as Partial<ServiceError>).code;
    console.error(`error: ${target.address}: ${grpcMessage(error)}`);
    // UNAUTHENTICATED, INVALID_ARGUMENT, NOT_FOUND: the request was wrong.
    return code === 16 || code === 3 || code === 5 ? 2 : 1;
  } finally {
    coordinator.close();
  }
}

/**
 * The config a coordinator is sent: a features folder becomes its content key, since a coordinator
 * reads only the folders its operator registered (FEATURES_DIRS), never a path a client names.
 */
export async function remoteConfig(config: SweepConfig): Promise<SweepConfig> {
  if (config.featuresDir === undefined) return config;
  const { featuresDir, ...rest } = config;
  return { ...rest, featuresKey: await featuresKey(featuresDir) };
}

/** Streams the sweep's events to the progress line; resolves with its end, or null when detached (Ctrl-C). */
async function watchUntilDone(
  c: Coordinator,
  sweepId: string,
  target: RemoteTarget,
): Promise<SweepDone | null> {
  const progress = progressReporter(process.stderr);
  let detached = false;
  let current: ReturnType<Coordinator["watch"]> | undefined;
  const onSigint = () => {
    detached = true;
    current?.cancel();
    progress.end();
    const how = `pnpm sweep --coordinator ${target.address} --token …`;
    process.stderr.write(
      `\ndetached: sweep ${sweepId} goes on in the cluster.\n  reattach: ${how} --watch ${sweepId}\n  cancel:   ${how} --cancel ${sweepId}\n`,
    );
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);
  let lostSince: number | undefined;
  try {
    while (!detached) {
      const outcome = await watchOnce(
        c,
        sweepId,
        (e) => progress.event(e),
        (call) => (current = call),
      );
      if (outcome.done) return outcome.done;
      if (detached) return null;
      if (outcome.error && !TRANSIENT.has(outcome.error.code ?? -1)) throw outcome.error;
      // The coordinator went away (restart): keep reattaching for a while.
      lostSince ??= Date.now();
      if (Date.now() - lostSince > 180_000)
        throw new Error(
          `lost the coordinator for 3 minutes: ${outcome.error ? grpcMessage(outcome.error) : "stream ended"}`,
        );
      await new Promise((r) => setTimeout(r, 1000));
    }
    return null;
  } finally {
    progress.end();
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
  }
}

function watchOnce(
  c: Coordinator,
  sweepId: string,
  onEvent: (e: RunEvent) => void,
  started: (call: ReturnType<Coordinator["watch"]>) => void,
): Promise<{ done?: SweepDone; error?: Partial<ServiceError> }> {
  return new Promise((resolve) => {
    const call = c.watch({ sweepId });
    started(call);
    let done: SweepDone | undefined;
    call.on("data", (event: SweepEvent) => {
      const run = runEvent(sweepId, event);
      if (run) onEvent(run);
      if (event.event?.$case === "done") done = event.event.value;
    });
    call.on("error", (error: ServiceError) => resolve({ done, error }));
    call.on("end", () => resolve({ done }));
  });
}

/** A coordinator event as the embedded scheduler's RunEvent, for the shared progress reporter. */
function runEvent(sweepId: string, e: SweepEvent): RunEvent | undefined {
  const ev = e.event;
  const name = e.jobName;
  if (!ev) return undefined;
  switch (ev.$case) {
    case "planned":
      return { type: "planned", sweepId, ...ev.value };
    case "sweepProgress":
      return {
        type: "progress",
        progress: { sweepId, ...ev.value, etaSeconds: ev.value.etaSeconds ?? null },
      };
    case "started":
      return {
        type: "started",
        job: { id: ev.value.jobId } as Job,
        name: name ?? ev.value.jobId.slice(0, 12),
      };
    case "result":
      return { type: "result", job: { id: ev.value.jobId } as Job, result: ev.value, name };
    case "skipped":
      return { type: "skipped", job: { id: ev.value.jobId } as Job, reason: ev.value.reason, name };
    default:
      return undefined;
  }
}

/** The embedded mode's end report (sweep-report.ts), from the coordinator's SweepDone and results. */
async function printEnd(
  c: Coordinator,
  sweepId: string,
  done: SweepDone,
  request: RemoteSweepRequest,
): Promise<number> {
  const rows = await queryAllResults(c, sweepId);
  return reportSweepEnd({ ...done, sweepId }, rows, {
    json: request.json,
    figuresDir: request.figuresDir,
    via: ` (coordinator ${c.address})`,
  });
}

/** Every result of a sweep, read page by page (QueryResults pages), in a figure's order. */
export async function queryAllResults(c: Coordinator, sweepId: string): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  let pageToken = "";
  do {
    const page = await c.call("queryResults", { sweepId, pageToken });
    rows.push(...page.rows.map(resultRow));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return sortResultRows(rows);
}

export function resultRow(r: ResultRecord): ResultRow {
  const { k, ...rest } = r;
  return {
    ...rest,
    kind: r.kind as ResultKind,
    smoothness: smoothnessOf(r),
    fusedColumns: r.fusedColumns ?? null,
    epsilon: r.epsilon ?? null,
    K: k ?? null,
    alpha: r.alpha ?? null,
    epsilon0: r.epsilon0 ?? null,
    batch: r.batch ?? null,
  };
}

/** A row's smoothness as the coordinator sent it: "data", "bound" or "" (none); anything else is a broken reply. */
function smoothnessOf(r: ResultRecord): SmoothnessName | null {
  if (r.smoothness === "data" || r.smoothness === "bound") return r.smoothness;
  if (r.smoothness === "") return null;
  throw new Error(
    `coordinator sent a result row of job ${r.job} with smoothness ${JSON.stringify(r.smoothness)} (expected "data", "bound" or "")`,
  );
}

export function sweepSummary(s: SweepInfo): SweepSummary {
  return {
    id: s.id,
    name: s.name,
    figure: s.figure,
    state: s.state as SweepSummary["state"],
    error: s.error || null,
    owner: null,
    createdAt: new Date(s.createdAtMs),
    updatedAt: new Date(s.updatedAtMs),
    jobs: s.jobs,
    done: s.done,
    failed: s.failed,
  };
}

/**
 * The read side of a Store served by the coordinator: what `pnpm results` calls (listSweeps,
 * sweepResults, location, close). Anything else is not offered over the API and throws saying so.
 */
export function remoteStore(target: RemoteTarget): Store {
  const c = connectCoordinator(target.address, target.token);
  const reads: Partial<Store> = {
    location: `coordinator ${target.address}`,
    listSweeps: async () => (await c.call("listSweeps", {})).sweeps.map(sweepSummary),
    getSweep: async (id: string) => sweepSummary(await c.call("getSweep", { sweepId: id })),
    sweepResults: (id: string) => queryAllResults(c, id),
    sweepStorage: (id: string) => c.call("getSweepStorage", { sweepId: id }),
    close: async () => c.close(),
  };
  return new Proxy(reads as Store, {
    get(target, property) {
      if (property in target) return target[property as keyof Store];
      if (typeof property === "symbol" || property === "then") return undefined;
      throw new Error(`Store.${property} is not available through the coordinator (read-only results API)`);
    },
  });
}
