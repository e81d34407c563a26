/**
 * The coordinator's gRPC API (proto/sweep.proto, service Coordinator) and the standard health service
 * (grpc.health.v1). Every Coordinator call must carry `authorization: Bearer <token>` metadata; a
 * missing or wrong token is answered UNAUTHENTICATED before anything else happens (nothing is planned,
 * nothing is read). A standby coordinator (lease.ts: another one is active) answers every call
 * UNAVAILABLE, which clients retry, and its health says NOT_SERVING until it takes over.
 */
import { timingSafeEqual } from "node:crypto";
import {
  type Metadata,
  Server,
  type ServerCredentials,
  type ServerErrorResponse,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import type { Store, SweepSummary } from "@unlearn/db";
import { type CoordinatorServer, CoordinatorService, type SweepInfo } from "@unlearn/protocol";
import { HealthImplementation } from "grpc-health-check";
import type { ClusterLink } from "./link.ts";
import { queryResultsPage } from "./results.ts";
import { RequestError, type SweepManager } from "./sweeps.ts";

/**
 * The coordinator's tokens: `full` for every call (COORDINATOR_TOKEN), and optionally `readOnly`
 * (COORDINATOR_READ_TOKEN) for the calls that change nothing: what a dashboard needs to list workers
 * and sweeps, without the power to submit or cancel.
 */
export interface Tokens {
  full: string;
  readOnly?: string;
}

function bearerIs(header: string, token: string): boolean {
  const given = Buffer.from(header);
  const wanted = Buffer.from(`Bearer ${token}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** Whether the call's token allows it: the full token always, the read-only one for reads. */
export function authorized(metadata: Metadata, tokens: string | Tokens, read = false): boolean {
  const { full, readOnly } = typeof tokens === "string" ? { full: tokens, readOnly: undefined } : tokens;
  const header = metadata.get("authorization")[0];
  if (typeof header !== "string") return false;
  return bearerIs(header, full) || (read && readOnly !== undefined && bearerIs(header, readOnly));
}

function grpcError(error: unknown): Partial<ServerErrorResponse> {
  if (error instanceof RequestError)
    return {
      code: error.kind === "not-found" ? status.NOT_FOUND : status.INVALID_ARGUMENT,
      details: error.message,
    };
  return { code: status.INTERNAL, details: (error as Error).message ?? String(error) };
}

/** The coordinator's parts once it is the active one. */
export interface Active {
  sweeps: SweepManager;
  store: Store;
  link: ClusterLink;
}

/** Health service names: "" (the server as a whole) and the Coordinator service; both follow the lease. */
export const HEALTH_SERVICES = ["", "unlearn.v1.Coordinator"] as const;

const STANDBY = {
  code: status.UNAVAILABLE,
  details:
    "UNAVAILABLE: this coordinator is a standby (another coordinator holds the lease); retry, or ask the active one",
};

const UNAUTHENTICATED = {
  code: status.UNAUTHENTICATED,
  details:
    "UNAUTHENTICATED: missing or wrong token (send metadata authorization: Bearer <COORDINATOR_TOKEN>)",
};

export function sweepInfo(s: SweepSummary): SweepInfo {
  return {
    id: s.id,
    name: s.name,
    figure: s.figure,
    state: s.state,
    error: s.error ?? "",
    jobs: s.jobs,
    done: s.done,
    failed: s.failed,
    createdAtMs: s.createdAt.getTime(),
    updatedAtMs: s.updatedAt.getTime(),
  };
}

/** A unary handler behind the token check (`read`: the read-only token will do) and the lease. */
function unary<Req, Res>(
  token: string | Tokens,
  active: () => Active | undefined,
  handle: (request: Req, parts: Active) => Promise<Res>,
  read = false,
) {
  return (call: { request: Req; metadata: Metadata }, callback: sendUnaryData<Res>) => {
    if (!authorized(call.metadata, token, read)) return callback(UNAUTHENTICATED);
    const parts = active();
    if (!parts) return callback(STANDBY);
    handle(call.request, parts).then(
      (response) => callback(null, response),
      (error) => callback(grpcError(error)),
    );
  };
}

/** The Coordinator service; `active` gives its parts, or undefined while it stands by. */
export function coordinatorService(
  token: string | Tokens,
  active: () => Active | undefined,
): CoordinatorServer {
  const READ = true;
  return {
    submitSweep: unary(token, active, (r, { sweeps }) => sweeps.submit(r.configJson)),
    getSweep: unary(token, active, async (r, { sweeps }) => sweepInfo(await sweeps.find(r.sweepId)), READ),
    listSweeps: unary(
      token,
      active,
      async (_r, { store }) => ({ sweeps: (await store.listSweeps()).map(sweepInfo) }),
      READ,
    ),
    cancelSweep: unary(token, active, (r, { sweeps }) => sweeps.cancel(r.sweepId)),
    queryResults: unary(
      token,
      active,
      async (r, { sweeps, store }) => queryResultsPage(store, await sweeps.find(r.sweepId), r, sweepInfo),
      READ,
    ),
    getSweepStorage: unary(
      token,
      active,
      async (r, { sweeps, store }) => store.sweepStorage((await sweeps.find(r.sweepId)).id),
      READ,
    ),
    listWorkers: unary(token, active, async (_r, { link }) => ({ workers: link.workers.live() }), READ),
    watchSweep(call) {
      if (!authorized(call.metadata, token, READ)) {
        call.emit("error", UNAUTHENTICATED);
        return;
      }
      const parts = active();
      if (!parts) {
        call.emit("error", STANDBY);
        return;
      }
      let stop = () => {};
      call.on("cancelled", () => stop());
      parts.sweeps
        .watch(
          call.request.sweepId,
          (event) => call.write(event),
          () => call.end(),
        )
        .then(
          (unwatch) => {
            stop = unwatch;
          },
          (error) => call.emit("error", grpcError(error)),
        );
    },
  };
}

/** A health service that reports NOT_SERVING until the coordinator is the active one. */
export function standbyHealth(): HealthImplementation {
  return new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((s) => [s, "NOT_SERVING"])));
}

export function setServing(health: HealthImplementation, serving: boolean): void {
  for (const s of HEALTH_SERVICES) health.setStatus(s, serving ? "SERVING" : "NOT_SERVING");
}

export function startServer(
  address: string,
  credentials: ServerCredentials,
  service: CoordinatorServer,
  health: HealthImplementation = standbyHealth(),
): Promise<{ server: Server; port: number }> {
  const server = new Server();
  server.addService(CoordinatorService, service);
  health.addToServer(server);
  return new Promise((resolve, reject) =>
    server.bindAsync(address, credentials, (error, port) =>
      error
        ? reject(new Error(`GRPC_ADDR ${address}: cannot listen: ${error.message}`))
        : resolve({ server, port }),
    ),
  );
}
