/**
 * The coordinator's gRPC API (proto/sweep.proto, service Coordinator). Every call must carry
 * `authorization: Bearer <token>` metadata; a missing or wrong token is answered UNAUTHENTICATED before
 * anything else happens (nothing is planned, nothing is read).
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
import {
  type CoordinatorServer,
  CoordinatorService,
  type SweepInfo,
} from "@unlearn/protocol";
import type { ClusterLink } from "./link.ts";
import { queryResultsPage } from "./results.ts";
import { RequestError, type SweepManager } from "./sweeps.ts";

export function authorized(metadata: Metadata, token: string): boolean {
  const header = metadata.get("authorization")[0];
  if (typeof header !== "string") return false;
  const given = Buffer.from(header);
  const wanted = Buffer.from(`Bearer ${token}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

function grpcError(error: unknown): Partial<ServerErrorResponse> {
  if (error instanceof RequestError)
    return {
      code: error.kind === "not-found" ? status.NOT_FOUND : status.INVALID_ARGUMENT,
      details: error.message,
    };
  return { code: status.INTERNAL, details: (error as Error).message ?? String(error) };
}

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

/** A unary handler behind the token check, its errors mapped to gRPC codes. */
function unary<Req, Res>(token: string, handle: (request: Req) => Promise<Res>) {
  return (call: { request: Req; metadata: Metadata }, callback: sendUnaryData<Res>) => {
    if (!authorized(call.metadata, token)) return callback(UNAUTHENTICATED);
    handle(call.request).then(
      (response) => callback(null, response),
      (error) => callback(grpcError(error)),
    );
  };
}

export function coordinatorService(
  token: string,
  sweeps: SweepManager,
  store: Store,
  link: ClusterLink,
): CoordinatorServer {
  return {
    submitSweep: unary(token, (r) => sweeps.submit(r.configJson)),
    getSweep: unary(token, async (r) => sweepInfo(await sweeps.find(r.sweepId))),
    listSweeps: unary(token, async () => ({ sweeps: (await store.listSweeps()).map(sweepInfo) })),
    cancelSweep: unary(token, (r) => sweeps.cancel(r.sweepId)),
    queryResults: unary(token, (r) => queryResultsPage(store, r, sweepInfo)),
    listWorkers: unary(token, async () => ({ workers: link.liveWorkers() })),
    watchSweep(call) {
      if (!authorized(call.metadata, token)) {
        call.emit("error", UNAUTHENTICATED);
        return;
      }
      let stop = () => {};
      call.on("cancelled", () => stop());
      sweeps
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

export function startServer(
  address: string,
  credentials: ServerCredentials,
  service: CoordinatorServer,
): Promise<{ server: Server; port: number }> {
  const server = new Server();
  server.addService(CoordinatorService, service);
  return new Promise((resolve, reject) =>
    server.bindAsync(address, credentials, (error, port) =>
      error
        ? reject(new Error(`GRPC_ADDR ${address}: cannot listen: ${error.message}`))
        : resolve({ server, port }),
    ),
  );
}
