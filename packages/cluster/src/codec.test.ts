import { headers } from "@nats-io/transport-node";
import { Job, JobBatch, JobKind, JobResult, JobSpec, jobId, WorkerInfo } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import {
  decodeHeartbeat,
  decodeJob,
  decodeJobBatch,
  decodeJobs,
  decodeResult,
  decodeWorker,
  MalformedMessage,
} from "./codec.ts";
import { BATCH_HEADER, batchDispatchOf, isBatch, NONCE_HEADER, newNonce } from "./dispatch.ts";
import { workerId, workerSubject } from "./names.ts";

const spec = JobSpec.fromPartial({
  kind: JobKind.JOB_KIND_LEARN,
  dataset: "synthetic?n=10&d=2&seed=1",
  steps: 5,
  chains: 1,
});
const job = Job.fromPartial({ id: jobId(spec), spec, sweepId: "s1", engine: "onnx" });
const bytes = (j: Job) => Job.encode(j).finish();

describe("decodeJob", () => {
  it("accepts a job whose id is its spec's address", () => {
    expect(decodeJob("unlearn.jobs.onnx.s1", bytes(job))).toEqual(job);
  });
  it("rejects bytes that are no Job, naming the subject", () => {
    expect(() => decodeJob("unlearn.jobs.onnx.s1", new Uint8Array([255, 255, 255]))).toThrow(
      /unlearn\.jobs\.onnx\.s1: 3 bytes do not decode as a Job/,
    );
  });
  it("rejects a tampered spec, a missing spec, kind or engine, naming the field", () => {
    expect(() => decodeJob("s", bytes({ ...job, spec: { ...spec, steps: 6 } }))).toThrow(
      /field id is not the SHA-256/,
    );
    expect(() => decodeJob("s", bytes({ ...job, spec: undefined }))).toThrow(/field spec is missing/);
    expect(() => decodeJob("s", bytes({ ...job, id: "x" }))).toThrow(/field id must be 64 hex/);
    expect(() => decodeJob("s", bytes({ ...job, engine: "" }))).toThrow(/field engine/);
    const unspecified = { ...spec, kind: JobKind.JOB_KIND_UNSPECIFIED };
    expect(() => decodeJob("s", bytes({ ...job, spec: unspecified, id: jobId(unspecified) }))).toThrow(
      MalformedMessage,
    );
  });
});

describe("decodeJobBatch (job fusion)", () => {
  const spec2 = { ...spec, steps: 7 };
  const job2 = { ...job, id: jobId(spec2), spec: spec2 };
  const batch = (jobs: Job[]) => JobBatch.encode({ jobs }).finish();
  it("accepts a batch of valid jobs, in order; decodeJobs reads a batch or one job", () => {
    expect(decodeJobBatch("s", batch([job, job2]))).toEqual([job, job2]);
    expect(decodeJobs("s", batch([job2, job]), true)).toEqual([job2, job]);
    expect(decodeJobs("s", bytes(job), false)).toEqual([job]);
  });
  it("rejects an empty batch, a job twice, mixed engines and a tampered job, naming the field", () => {
    expect(() => decodeJobBatch("s", batch([]))).toThrow(/field jobs is empty/);
    expect(() => decodeJobBatch("s", batch([job, job]))).toThrow(/names a job twice/);
    expect(() => decodeJobBatch("s", batch([job, { ...job2, engine: "reference" }]))).toThrow(
      /mixes engines/,
    );
    expect(() => decodeJobBatch("s", batch([job, { ...job2, spec: spec }]))).toThrow(
      /field id is not the SHA-256/,
    );
  });
  it("reads one nonce per job from a batch's headers, and nothing from malformed ones", () => {
    const nonces = [newNonce(), newNonce(), newNonce()];
    const h = headers();
    h.set(BATCH_HEADER, "3");
    h.set(NONCE_HEADER, nonces.join(","));
    expect(isBatch(h)).toBe(true);
    expect(isBatch(headers())).toBe(false);
    expect(batchDispatchOf(h, 3)).toEqual({ nonces, priorDeliveries: 0 });
    expect(batchDispatchOf(h, 2)).toBeNull();
    h.set(NONCE_HEADER, [nonces[0], nonces[0], nonces[1]].join(","));
    expect(batchDispatchOf(h, 3)).toBeNull();
    h.set(NONCE_HEADER, [nonces[0], "x", nonces[1]].join(","));
    expect(batchDispatchOf(h, 3)).toBeNull();
  });
});

describe("decodeResult and decodeWorker", () => {
  const ok = JobResult.fromPartial({ jobId: job.id, ok: true, accuracies: [0.5], artifactKey: job.id });
  it("accept well-formed messages", () => {
    expect(decodeResult("r", JobResult.encode(ok).finish())).toEqual(ok);
    const w = WorkerInfo.fromPartial({ id: "h:1:onnx", engine: "onnx", concurrency: 1 });
    expect(decodeWorker("w", WorkerInfo.encode(w).finish())).toEqual(w);
  });
  it("reject results that cannot be stored, naming the field", () => {
    const enc = (r: JobResult) => JobResult.encode(r).finish();
    expect(() => decodeResult("r", enc({ ...ok, accuracies: [] }))).toThrow(/field accuracies is empty/);
    expect(() => decodeResult("r", enc({ ...ok, accuracies: [1.5] }))).toThrow(/outside \[0, 1\]/);
    expect(() => decodeResult("r", enc({ ...ok, artifactKey: "other" }))).toThrow(/field artifact_key/);
    expect(() => decodeResult("r", enc({ ...ok, ok: false, error: "" }))).toThrow(/field error is empty/);
    expect(() => decodeResult("r", enc({ ...ok, wallMs: Number.NaN }))).toThrow(/field wall_ms .* got NaN/);
    expect(() => decodeResult("r", enc({ ...ok, msPerStep: -1 }))).toThrow(/field ms_per_step .* got -1/);
    expect(() => decodeResult("r", enc({ ...ok, wallMs: Number.POSITIVE_INFINITY }))).toThrow(
      /field wall_ms/,
    );
    expect(() =>
      decodeWorker("w", WorkerInfo.encode(WorkerInfo.fromPartial({ id: "x", engine: "onnx" })).finish()),
    ).toThrow(/concurrency/);
  });
  it("accept a worker's current jobs and speed, reject ones the dashboard cannot show, naming the field", () => {
    const busy = WorkerInfo.fromPartial({
      id: "h:1:onnx",
      engine: "onnx",
      concurrency: 2,
      running: 1,
      currentJobs: [job.id],
      stepsPerSecond: 812.5,
    });
    const enc = (w: WorkerInfo) => WorkerInfo.encode(w).finish();
    expect(decodeWorker("w", enc(busy))).toEqual(busy);
    expect(() => decodeWorker("w", enc({ ...busy, currentJobs: ["abc"] }))).toThrow(
      /field current_jobs has "abc", not 64 hex digits/,
    );
    expect(() => decodeWorker("w", enc({ ...busy, currentJobs: [job.id, job.id] }))).toThrow(
      /field current_jobs names 2 jobs but running is 1/,
    );
    expect(() => decodeWorker("w", enc({ ...busy, stepsPerSecond: -1 }))).toThrow(/field steps_per_second/);
    expect(() => decodeWorker("w", enc({ ...busy, stepsPerSecond: Number.NaN }))).toThrow(
      /field steps_per_second/,
    );
  });
});

describe("decodeHeartbeat", () => {
  const beat = (id: string) =>
    WorkerInfo.encode(WorkerInfo.fromPartial({ id, engine: "onnx", concurrency: 1 })).finish();
  it("takes a worker's heartbeat on its own user's subject", () => {
    const id = workerId("worker-a", "h", 1, "onnx");
    expect(id).toBe("worker-a@h:1:onnx");
    expect(decodeHeartbeat(workerSubject("worker-a"), beat(id)).id).toBe(id);
    expect(decodeHeartbeat(workerSubject(undefined), beat("h:1:onnx")).id).toBe("h:1:onnx");
  });
  it("refuses an id of another user (a stopping or fake capacity under someone else's name)", () => {
    expect(() => decodeHeartbeat(workerSubject("worker-b"), beat("worker-a@h:1:onnx"))).toThrow(
      /field id "worker-a@h:1:onnx" is not one of NATS user worker-b's workers/,
    );
    expect(() => decodeHeartbeat(workerSubject(undefined), beat("worker-a@h:1:onnx"))).toThrow(
      MalformedMessage,
    );
  });
});
