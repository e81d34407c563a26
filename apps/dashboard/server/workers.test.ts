import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import { type CoordinatorServer, CoordinatorService, WorkerInfo } from "@unlearn/protocol";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { listWorkers } from "./workers.ts";

// A gRPC server speaking the coordinator's ListWorkers with its token rule (Bearer in the metadata).
const TOKEN = "cluster-token";
const server = new Server();
let address: string;

const impl: Pick<CoordinatorServer, "listWorkers"> = {
  listWorkers(call, callback) {
    if (call.metadata.get("authorization")[0] !== `Bearer ${TOKEN}`) {
      return callback({ code: status.UNAUTHENTICATED, details: "missing or wrong token" });
    }
    callback(null, {
      workers: [
        WorkerInfo.fromPartial({
          id: "w1",
          host: "gpu-node-1",
          engine: "webgpu",
          device: "NVIDIA H100",
          concurrency: 2,
          running: 1,
          lastSeenMs: Date.UTC(2026, 10, 27, 12, 0, 0),
        }),
      ],
    });
  },
};

beforeAll(async () => {
  server.addService(CoordinatorService, impl);
  const port = await new Promise<number>((ok, fail) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))),
  );
  address = `127.0.0.1:${port}`;
});

afterAll(() => server.forceShutdown());

describe("the workers page's ListWorkers", () => {
  test("lists the coordinator's workers", async () => {
    const view = await listWorkers(address, TOKEN);
    expect(view.error).toBeNull();
    expect(view.workers).toEqual([
      {
        id: "w1",
        host: "gpu-node-1",
        engine: "webgpu",
        device: "NVIDIA H100",
        running: 1,
        concurrency: 2,
        lastSeen: "2026-11-27T12:00:00.000Z",
        currentJob: null,
        msPerStep: null,
      },
    ]);
  });

  test("a wrong or missing token, or no coordinator there, is an error naming the address", async () => {
    expect((await listWorkers(address, "wrong")).error).toMatch(/UNAUTHENTICATED/);
    expect((await listWorkers(address, undefined)).error).toMatch(/UNLEARN_TOKEN/);
    const dead = await listWorkers("127.0.0.1:1", TOKEN, 2000);
    expect(dead.error).toContain("127.0.0.1:1");
    expect(dead.workers).toEqual([]);
  });
});
