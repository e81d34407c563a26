/** The read-only coordinator token: reads pass, submit and cancel are refused, over a real gRPC server. */
import { credentials, Metadata, ServerCredentials } from "@grpc/grpc-js";
import { CoordinatorClient } from "@unlearn/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Active, coordinatorService, startServer } from "./server.ts";

const FULL = "full-token-0123456789abcdef";
const READ = "read-token-0123456789abcdef";
let stop = () => {};
let client: CoordinatorClient;

// Just enough of the active parts for the calls tried here: no sweep exists, one worker is live.
const active = {
  sweeps: {
    submit: async () => ({ sweepId: "s", jobs: 0, cached: 0 }),
    cancel: async () => ({}),
    find: async () => {
      throw new Error("no such sweep");
    },
  },
  store: { listSweeps: async () => [] },
  link: { workers: { live: () => [] } },
} as unknown as Active;

beforeAll(async () => {
  const { server, port } = await startServer(
    "127.0.0.1:0",
    ServerCredentials.createInsecure(),
    coordinatorService({ full: FULL, readOnly: READ }, () => active),
  );
  stop = () => server.forceShutdown();
  client = new CoordinatorClient(`127.0.0.1:${port}`, credentials.createInsecure());
});
afterAll(() => {
  client.close();
  stop();
});

function call(method: "listWorkers" | "listSweeps" | "submitSweep" | "cancelSweep", token: string) {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return new Promise<{ code: number; value?: unknown }>((resolve) => {
    const request =
      method === "submitSweep" ? { configJson: "{}" } : method === "cancelSweep" ? { sweepId: "s" } : {};
    (
      client[method] as (
        r: unknown,
        m: Metadata,
        cb: (e: { code: number } | null, v?: unknown) => void,
      ) => void
    )(request, metadata, (error, value) => resolve(error ? { code: error.code } : { code: 0, value }));
  });
}

describe("coordinator tokens", () => {
  it("the read-only token lists workers and sweeps", async () => {
    expect(await call("listWorkers", READ)).toEqual({ code: 0, value: { workers: [] } });
    expect((await call("listSweeps", READ)).code).toBe(0);
  });

  it("the read-only token cannot submit or cancel (UNAUTHENTICATED); the full token can", async () => {
    expect((await call("submitSweep", READ)).code).toBe(16);
    expect((await call("cancelSweep", READ)).code).toBe(16);
    expect((await call("submitSweep", FULL)).code).toBe(0);
    expect((await call("listWorkers", FULL)).code).toBe(0);
    expect((await call("listWorkers", "wrong")).code).toBe(16);
  });
});
