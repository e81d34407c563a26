import { credentials, Server, ServerCredentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CoordinatorClient,
  type CoordinatorServer,
  CoordinatorService,
  JobResult,
  SweepDone,
  type SweepEvent,
} from "./index.ts";

// The generated grpc-js service over a real loopback connection: what the coordinator and `pnpm sweep` use.
const server = new Server();
let client: CoordinatorClient;

const impl: Pick<CoordinatorServer, "submitSweep" | "watchSweep"> = {
  submitSweep(call, callback) {
    const config = JSON.parse(call.request.configJson) as { name: string };
    callback(null, { sweepId: `sweep-${config.name}`, jobs: 12, cached: 3 });
  },
  watchSweep(call) {
    call.write({
      sweepId: call.request.sweepId,
      event: { $case: "progress", value: { jobId: "j", stepsDone: 5, stepsTotal: 10, worker: "w" } },
    });
    call.write({
      sweepId: call.request.sweepId,
      event: { $case: "result", value: JobResult.fromPartial({ jobId: "j", ok: true, accuracies: [0.5] }) },
    });
    call.write({
      sweepId: call.request.sweepId,
      event: { $case: "done", value: SweepDone.fromPartial({ state: "done", jobs: 1, failed: 0 }) },
    });
    call.end();
  },
};

beforeAll(async () => {
  server.addService(CoordinatorService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  client = new CoordinatorClient(`127.0.0.1:${port}`, credentials.createInsecure());
});
afterAll(() => {
  client?.close();
  server.forceShutdown();
});

describe("Coordinator gRPC service", () => {
  it("answers SubmitSweep", async () => {
    const response = await new Promise((resolve, reject) =>
      client.submitSweep({ configJson: JSON.stringify({ name: "fig5" }) }, (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );
    expect(response).toEqual({ sweepId: "sweep-fig5", jobs: 12, cached: 3 });
  });

  it("streams WatchSweep events as oneof unions", async () => {
    const events: SweepEvent[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = client.watchSweep({ sweepId: "s1" });
      stream.on("data", (e: SweepEvent) => events.push(e));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    expect(events.map((e) => e.event?.$case)).toEqual(["progress", "result", "done"]);
    expect(events[1].event).toEqual({
      $case: "result",
      value: JobResult.fromPartial({ jobId: "j", ok: true, accuracies: [0.5] }),
    });
    expect(events.every((e) => e.sweepId === "s1")).toBe(true);
  });
});
