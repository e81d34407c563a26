import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import { type CoordinatorServer, CoordinatorService, WorkerInfo } from "@unlearn/protocol";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ClusterWorkers } from "../components/ClusterWorkers.tsx";
import { listWorkers, withSweeps } from "./workers.ts";

// A gRPC server speaking the coordinator's ListWorkers with its token rule (Bearer in the metadata).
const TOKEN = "cluster-token";
const JOB_A = "a".repeat(64);
const JOB_B = "b".repeat(64);
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
          running: 2,
          currentJobs: [JOB_A, JOB_B],
          stepsPerSecond: 1234.5678,
          lastSeenMs: Date.UTC(2026, 10, 27, 12, 0, 0),
        }),
        WorkerInfo.fromPartial({ id: "w2", host: "cpu-node", engine: "onnx", device: "cpu", concurrency: 1 }),
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
    expect(view.workers[0]).toEqual({
      id: "w1",
      host: "gpu-node-1",
      engine: "webgpu",
      device: "NVIDIA H100",
      running: 2,
      concurrency: 2,
      lastSeen: "2026-11-27T12:00:00.000Z",
      currentJobs: [
        { id: JOB_A, sweepId: null },
        { id: JOB_B, sweepId: null },
      ],
      stepsPerSecond: 1234.5678,
    });
    expect(view.workers[1]).toMatchObject({ id: "w2", running: 0, currentJobs: [], stepsPerSecond: 0 });
  });

  test("the page's table shows each worker's current job (linked to its sweep when known) and steps/s", async () => {
    // JOB_A belongs to two sweeps: the newest (first in the links) wins; JOB_B is in none stored here.
    const links = [
      { sweepId: "sweep-new", jobId: JOB_A },
      { sweepId: "sweep-old", jobId: JOB_A },
    ];
    const view = withSweeps(await listWorkers(address, TOKEN), links);
    expect(view.workers[0]!.currentJobs).toEqual([
      { id: JOB_A, sweepId: "sweep-new" },
      { id: JOB_B, sweepId: null },
    ]);
    const html = renderToStaticMarkup(
      createElement(ClusterWorkers, { workers: view.workers, source: address }),
    );
    const headers = [...html.matchAll(/<th[^>]*>([^<]*)<\/th>/g)].map((m) => m[1]!.trim());
    expect(headers).toEqual([
      "worker",
      "host",
      "engine",
      "device",
      "running / slots",
      "current job",
      "steps/s",
      "last seen",
    ]);
    const rows = html.split("<tr>").slice(2);
    expect(rows[0]).toContain(
      `<a class="mono" href="/sweeps/sweep-new" title="${JOB_A} (sweep sweep-new)">aaaaaaaaaaaa</a>`,
    );
    expect(rows[0]).toContain(`<span class="mono" title="${JOB_B}">bbbbbbbbbbbb</span>`);
    // three significant digits, as the page prints speeds
    expect(rows[0]).toContain('<td class="num">1230</td>');
    expect(rows[1]).toContain('<span class="muted">idle</span>');
    expect(rows[1]).toContain('<td class="num">–</td>');
    expect(rows[1]).not.toContain("/sweeps/");
  });

  test("a wrong or missing token, or no coordinator there, is an error naming the address", async () => {
    expect((await listWorkers(address, "wrong")).error).toMatch(/UNAUTHENTICATED/);
    expect((await listWorkers(address, undefined)).error).toMatch(/UNLEARN_TOKEN/);
    const dead = await listWorkers("127.0.0.1:1", TOKEN, 2000);
    expect(dead.error).toContain("127.0.0.1:1");
    expect(dead.workers).toEqual([]);
  });
});
