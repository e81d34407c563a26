/**
 * QueryResults in pages over a real gRPC server: a sweep whose results in one message would exceed
 * gRPC's 4 MiB default is read page by page, every row once, each page well under the limit.
 */
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { connectCoordinator } from "@unlearn/cluster";
import { openStore, type Store, type SweepSummary, sortResultRows } from "@unlearn/db";
import {
  CoordinatorService,
  JobKind,
  JobResult,
  JobSpec,
  jobId,
  type QueryResultsRequest,
  QueryResultsResponse,
  type ResultRecord,
} from "@unlearn/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_PAGE_BYTES, queryResultsPage, resultRecord } from "./results.ts";

const SWEEP = "paged-0123456789";
const ROWS = 1000;
const CHAINS = 600; // 1000 rows × 600 accuracies × 8 bytes ≈ 4.8 MB: over the 4 MiB default in one message
const info = (s: SweepSummary) => ({
  id: s.id,
  name: s.name,
  figure: s.figure,
  state: s.state,
  error: "",
  jobs: s.jobs,
  done: s.done,
  failed: s.failed,
  createdAtMs: 0,
  updatedAtMs: 0,
});

let store: Store;
/** The handler's way: the sweep by its id (or a unique prefix), then the page. */
const findThen = async (request: QueryResultsRequest) => {
  const [sweep] = await store.findSweeps(request.sweepId);
  if (!sweep) throw new Error(`unknown sweep ${request.sweepId}`);
  return queryResultsPage(store, sweep, request, info);
};
let server: Server;
let port: number;

beforeAll(async () => {
  store = await openStore("memory://");
  await store.createSweep({ id: SWEEP, name: "paged", figure: "fig4", config: {}, seed: "1" });
  const specs = Array.from({ length: ROWS }, (_, i) =>
    JobSpec.fromPartial({
      kind: JobKind.JOB_KIND_RETRAIN,
      dataset: "mnist-3v8",
      steps: 10,
      chains: CHAINS,
      removals: i + 1,
    }),
  );
  await store.upsertJobs(specs.map((spec) => ({ id: jobId(spec), kind: "retrain", spec, parentId: null })));
  await store.linkSweepJobs(
    SWEEP,
    specs.map((s, i) => ({
      jobId: jobId(s),
      figure: "fig4",
      series: `S=${i % 7}`,
      labels: { epsilon: i % 3 },
    })),
  );
  const accuracies = Array.from({ length: CHAINS }, (_, i) => (i % 100) / 100);
  for (const s of specs)
    await store.saveResult(
      JobResult.fromPartial({ jobId: jobId(s), ok: true, accuracies, engine: "onnx", worker: "w" }),
    );
  server = new Server();
  // Only QueryResults is served here; grpc-js answers the other methods UNIMPLEMENTED.
  server.addService(CoordinatorService, {
    queryResults: (call: { request: never }, cb: (e: null, r: QueryResultsResponse) => void) =>
      void findThen(call.request).then((r) => cb(null, r)),
  } as never);
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
}, 120_000);

afterAll(async () => {
  server?.forceShutdown();
  await store?.close();
});

describe("QueryResults pages", () => {
  it("one message would exceed 4 MiB; pages stay under the limit and give every row once", async () => {
    const all = (await store.sweepResults(SWEEP)).map(resultRecord);
    const whole = QueryResultsResponse.encode({ sweep: undefined, rows: all, nextPageToken: "" }).finish();
    expect(whole.byteLength).toBeGreaterThan(4 * 1024 * 1024);

    const client = connectCoordinator(`127.0.0.1:${port}`, "unused");
    try {
      const rows: ResultRecord[] = [];
      const sizes: number[] = [];
      let pageToken = "";
      do {
        const page = await client.call("queryResults", { sweepId: "paged-01", pageToken });
        sizes.push(QueryResultsResponse.encode(page).finish().byteLength);
        expect(page.sweep?.id).toBe(SWEEP);
        rows.push(...page.rows);
        pageToken = page.nextPageToken;
      } while (pageToken);
      expect(Math.max(...sizes)).toBeLessThan(MAX_PAGE_BYTES + 64 * 1024);
      expect(sizes.length).toBeGreaterThan(2);
      expect(new Set(rows.map((r) => r.job)).size).toBe(ROWS);
      const sorted = sortResultRows(
        rows.map((r) => ({ ...r, K: r.k ?? null, epsilon: r.epsilon ?? null })) as never,
      );
      expect((sorted as ResultRecord[]).map((r) => r.job)).toEqual(all.map((r) => r.job));
    } finally {
      client.close();
    }
  });

  it("a page_size asks for fewer rows; a bad token is INVALID_ARGUMENT", async () => {
    const page = await findThen({ sweepId: SWEEP, pageSize: 10 });
    expect(page.rows).toHaveLength(10);
    await expect(findThen({ sweepId: SWEEP, pageToken: "x" })).rejects.toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(/page_token/),
    });
  });
});
