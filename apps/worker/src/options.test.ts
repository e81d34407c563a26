import { describe, expect, it } from "vitest";
import { workerOptions } from "./options.ts";

describe("workerOptions", () => {
  it("defaults to one onnx job at a time on the CPU, with the cluster's delivery limits", () => {
    expect(workerOptions({})).toMatchObject({
      engine: "onnx",
      device: "cpu",
      concurrency: 1,
      threads: undefined,
      limits: { ackWaitMs: 30_000, maxDeliver: 3 },
    });
  });

  it("reads WORKER_* and JOB_* variables", () => {
    const o = workerOptions({
      WORKER_ENGINE: "reference",
      WORKER_DEVICE: "cuda",
      WORKER_CONCURRENCY: "4",
      WORKER_THREADS: "2",
      JOB_ACK_WAIT_MS: "5000",
      JOB_MAX_DELIVER: "5",
    });
    expect(o).toMatchObject({
      engine: "reference",
      device: "cuda",
      concurrency: 4,
      threads: 2,
      limits: { ackWaitMs: 5000, maxDeliver: 5 },
    });
  });

  it("names the bad variable", () => {
    expect(() => workerOptions({ WORKER_ENGINE: "cuda" })).toThrow(/WORKER_ENGINE: expected one of/);
    expect(() => workerOptions({ WORKER_DEVICE: "tpu" })).toThrow(/WORKER_DEVICE/);
    expect(() => workerOptions({ WORKER_CONCURRENCY: "0" })).toThrow(
      /WORKER_CONCURRENCY: expected an integer ≥ 1, got "0"/,
    );
    expect(() => workerOptions({ JOB_MAX_DELIVER: "x" })).toThrow(/JOB_MAX_DELIVER/);
    expect(() => workerOptions({ JOB_ACK_WAIT_MS: "10" })).toThrow(
      /JOB_ACK_WAIT_MS: expected an integer ≥ 1000/,
    );
  });
});
