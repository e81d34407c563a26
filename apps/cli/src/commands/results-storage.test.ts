/** `pnpm results --storage` and `--free-chains` on a PGlite directory. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { openStore } from "@unlearn/db";
import { CoordinatorService, JobKind, JobResult, JobSpec, jobId } from "@unlearn/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes, run } from "./results.ts";

const dir = mkdtempSync(join(tmpdir(), "unlearn-cli-storage-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SWEEP = "fig5-storage0123";
const spec = (over: Partial<JobSpec>) =>
  JobSpec.fromPartial({ dataset: "mnist-3v8", lambda: 1e-6, sigma: 0.03, chains: 10, seed: 7n, ...over });
const learn = spec({ kind: JobKind.JOB_KIND_LEARN, steps: 10000 });
const unlearn = (S: number) =>
  spec({ kind: JobKind.JOB_KIND_UNLEARN, steps: 100, removals: S, parentId: jobId(learn) });
const ids = [jobId(learn), jobId(unlearn(1)), jobId(unlearn(2))];
/** 784 × 10 float32: MNIST's d at 10 chains, 31,360 bytes of (incompressible) chains. */
const chains = () => new Uint8Array(new Float32Array(7840).map((_, i) => Math.sin(i * 1.7)).buffer);

beforeAll(async () => {
  const store = await openStore(dir);
  try {
    await store.createSweep({ id: SWEEP, name: "storage", figure: "fig5", config: {}, seed: "7" });
    await store.upsertJobs([
      { id: ids[0]!, kind: "learn", spec: learn, parentId: null },
      { id: ids[1]!, kind: "unlearn", spec: unlearn(1), parentId: ids[0]! },
      { id: ids[2]!, kind: "unlearn", spec: unlearn(2), parentId: ids[0]! },
    ]);
    await store.linkSweepJobs(
      SWEEP,
      ids.map((id, i) => ({ jobId: id, figure: "fig5", series: `s${i}`, labels: {} })),
    );
    // The learn job and one child ran (chains kept by --keep-chains); the other child has not run.
    for (const id of ids.slice(0, 2)) {
      await store.putArtifact(id, chains(), { shape: [784, 10], dtype: "float32" });
      await store.saveResult(
        JobResult.fromPartial({ jobId: id, ok: true, accuracies: [0.5], engine: "onnx", worker: "w" }),
      );
    }
  } finally {
    await store.close();
  }
}, 60_000);

async function results(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("pnpm results --storage / --free-chains", () => {
  it("--storage lists the bytes each sweep holds; --json gives the numbers", async () => {
    const table = await results("--db", dir, "--storage");
    expect(table.code).toBe(0);
    const line = table.out.split("\n").find((l) => l.startsWith(SWEEP));
    expect(line).toMatch(/storage\s+3\s+2\s+62\.\d kB/);
    const json = await results("--db", dir, "--storage", "--sweep", "fig5-stor", "--json");
    const [held] = JSON.parse(json.out);
    expect(held).toMatchObject({ sweepId: SWEEP, jobs: 3, chains: 2 });
    expect(held.chainBytes).toBeGreaterThanOrEqual(2 * 31_360);
    expect(held.totalBytes).toBe(held.chainBytes + held.rowBytes);
  });

  it("--free-chains frees a sweep's chains but the one a job not yet run starts from", async () => {
    const freed = await results("--db", dir, "--free-chains", "--sweep", SWEEP);
    expect(freed.code).toBe(0);
    expect(freed.out).toMatch(/freed 1 chain \(31\.\d kB\); it holds .* now \(1 chains kept/);
    const again = await results("--db", dir, "--free-chains", "--sweep", SWEEP, "--json");
    expect(JSON.parse(again.out)).toMatchObject({ freed: { chains: 0, bytes: 0 }, left: { chains: 1 } });
  });

  it("names what is wrong with the command line", async () => {
    expect(await results("--db", dir, "--free-chains")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--free-chains needs --sweep ID/),
    });
    expect(await results("--db", dir, "--storage", "--free-chains")).toMatchObject({ code: 2 });
    expect(await results("--db", dir, "--storage", "--csv")).toMatchObject({ code: 2 });
    const remote = await results(
      "--free-chains",
      "--sweep",
      SWEEP,
      "--coordinator",
      "127.0.0.1:1",
      "--token",
      "t",
    );
    expect(remote).toMatchObject({ code: 2, err: expect.stringMatching(/pass --db URL/) });
    expect(await results("--db", dir, "--storage", "--sweep", "nope")).toMatchObject({ code: 2 });
  });

  it("--storage --coordinator reads the same numbers over gRPC (GetSweepStorage)", async () => {
    const store = await openStore(dir);
    const server = new Server();
    // The two calls `results --storage` makes, answered from the store as the coordinator does.
    server.addService(CoordinatorService, {
      listSweeps: (_c: unknown, cb: (e: null, r: unknown) => void) =>
        void store.listSweeps().then((sweeps) =>
          cb(null, {
            sweeps: sweeps.map((s) => ({
              ...s,
              error: "",
              createdAtMs: s.createdAt.getTime(),
              updatedAtMs: s.updatedAt.getTime(),
            })),
          }),
        ),
      getSweepStorage: (c: { request: { sweepId: string } }, cb: (e: null, r: unknown) => void) =>
        void store.sweepStorage(c.request.sweepId).then((r) => cb(null, r)),
    } as never);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    try {
      const local = JSON.parse((await results("--db", dir, "--storage", "--sweep", SWEEP, "--json")).out);
      const remote = await results(
        "--coordinator",
        `127.0.0.1:${port}`,
        "--token",
        "t",
        "--storage",
        "--sweep",
        SWEEP,
        "--json",
      );
      expect(remote.code).toBe(0);
      expect(JSON.parse(remote.out)).toEqual(local);
    } finally {
      server.forceShutdown();
      await store.close();
    }
  });

  it("bytes() reads in powers of 1000", () => {
    expect([bytes(999), bytes(31_360), bytes(313_600_000), bytes(3.2e9)]).toEqual([
      "999 B",
      "31.4 kB",
      "314 MB",
      "3.2 GB",
    ]);
  });
});
