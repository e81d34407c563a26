import { describe, expect, it } from "vitest";
import { workerOptions } from "./options.ts";

describe("workerOptions", () => {
  it("defaults to one onnx job at a time on the CPU; a job standing still 5 min is handed back", () => {
    expect(workerOptions({})).toMatchObject({
      engine: "onnx",
      device: "cpu",
      concurrency: 1,
      threads: undefined,
      stallMs: 300_000,
    });
    // The delivery limits are the coordinator's (read from the jobs consumer), not a worker's setting.
    expect(workerOptions({ JOB_ACK_WAIT_MS: "5000" })).not.toHaveProperty("limits");
  });

  it("reads WORKER_* variables", () => {
    const o = workerOptions({
      WORKER_ENGINE: "reference",
      WORKER_DEVICE: "cuda",
      WORKER_CONCURRENCY: "4",
      WORKER_THREADS: "2",
      WORKER_STALL_MS: "9000",
    });
    expect(o).toMatchObject({
      engine: "reference",
      device: "cuda",
      concurrency: 4,
      threads: 2,
      stallMs: 9000,
    });
  });

  it("names the bad variable", () => {
    expect(() => workerOptions({ WORKER_ENGINE: "cuda" })).toThrow(/WORKER_ENGINE: expected one of/);
    expect(() => workerOptions({ WORKER_DEVICE: "tpu" })).toThrow(/WORKER_DEVICE/);
    expect(() => workerOptions({ WORKER_CONCURRENCY: "0" })).toThrow(
      /WORKER_CONCURRENCY: expected an integer ≥ 1, got "0"/,
    );
    expect(() => workerOptions({ WORKER_STALL_MS: "-5" })).toThrow(
      /WORKER_STALL_MS: expected an integer ≥ 1/,
    );
  });
});
