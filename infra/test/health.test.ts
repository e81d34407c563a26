/**
 * The compose health check of the coordinator (infra/docker/grpc-health.mjs) against the
 * coordinator's real gRPC server: a standby (NOT_SERVING) is unhealthy, the active one healthy,
 * nothing listening is unhealthy.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { type Server, ServerCredentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  coordinatorService,
  setServing,
  standbyHealth,
  startServer,
} from "../../apps/coordinator/src/server.ts";
import { INFRA_DIR } from "./compose.ts";

const PROBE = join(INFRA_DIR, "docker/grpc-health.mjs");
/** Runs the probe as compose would; asynchronously, so this process's server goes on answering. */
const probe = (address: string, service?: string) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [PROBE, address, ...(service === undefined ? [] : [service])],
      { encoding: "utf8", timeout: 20_000 },
      (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

describe("grpc-health.mjs against the coordinator's server", () => {
  const health = standbyHealth();
  let server: Server;
  let address: string;
  beforeAll(async () => {
    const started = await startServer(
      "127.0.0.1:0",
      ServerCredentials.createInsecure(),
      coordinatorService("a-token-for-this-test-only", () => undefined),
      health,
    );
    server = started.server;
    address = `127.0.0.1:${started.port}`;
  });
  afterAll(() => server?.forceShutdown());

  it("a standby coordinator is NOT_SERVING: exit 1", async () => {
    const r = await probe(address);
    expect(r.stdout).toMatch(/NOT_SERVING/);
    expect(r.status).toBe(1);
  });

  it("the active one is SERVING: exit 0, for the server and for the Coordinator service", async () => {
    setServing(health, true);
    const all = await probe(address);
    expect(all.stdout).toMatch(/: SERVING/);
    expect(all.status).toBe(0);
    expect((await probe(address, "unlearn.v1.Coordinator")).status).toBe(0);
    expect((await probe(address, "no.such.Service")).status).toBe(1);
  });

  it("nothing listening: exit 1 with the reason", async () => {
    const r = await probe("127.0.0.1:1");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/127\.0\.0\.1:1/);
  });
});
