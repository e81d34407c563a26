/** Capacity per engine: a sweep counts the slots of its engine's workers, less those other sweeps hold there. */
import { type Job, WorkerInfo } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import { InFlightRegistry } from "./registry.ts";
import { WorkerRegistry } from "./workers.ts";

const worker = (id: string, engine: string, concurrency: number) =>
  WorkerInfo.fromPartial({ id, engine, concurrency, host: "h", device: "cpu" });
const job = (id: string, engine: string): Job => ({
  id,
  spec: undefined,
  sweepId: "",
  attempt: 0,
  engine,
  device: "cpu",
});
const waiter = (sweepId: string) => ({ sweepId, resolve: () => {} });

describe("capacity per engine", () => {
  it("counts the live workers of the sweep's engine only", () => {
    const workers = new WorkerRegistry();
    workers.heard(worker("a", "onnx", 4));
    workers.heard(worker("b", "onnx", 2));
    workers.heard(worker("g", "webgpu", 8));
    expect(workers.capacity("onnx")).toBe(6);
    expect(workers.capacity("webgpu")).toBe(8);
    expect(workers.capacity("tfjs")).toBe(1); // none: at least 1, so the sweep starts and waits
    expect(workers.capacity()).toBe(14);
  });

  it("other sweeps' jobs in flight take slots of their own engine only", () => {
    const jobs = new InFlightRegistry();
    jobs.join(job("j1", "onnx"), waiter("other"));
    jobs.join(job("j2", "webgpu"), waiter("other"));
    jobs.join(job("j3", "onnx"), waiter("mine"));
    jobs.join(job("j3", "onnx"), waiter("other")); // shared: counts as mine
    expect(jobs.heldElsewhere("mine", "onnx")).toBe(1);
    expect(jobs.heldElsewhere("mine", "webgpu")).toBe(1);
    expect(jobs.heldElsewhere("mine")).toBe(2);
  });
});
