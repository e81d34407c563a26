/** Job fusion's packing (scheduler-dag.ts): packBatch, pure, and ReadyQueue.popBatch over it. */
import { type Job, JobSpec, jobId } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import { fusionKey, jobColumns, type Packing, packBatch, ReadyQueue } from "./scheduler-dag.ts";

function job(
  name: string,
  o: { chains?: number; dataset?: string; engine?: string; device?: string } = {},
): Job {
  const spec = JobSpec.fromPartial({
    dataset: o.dataset ?? "synthetic?a",
    chains: o.chains ?? 10,
    steps: 100,
    seed: name.length,
    sigma: name.charCodeAt(0),
  });
  return {
    id: `${name}-${jobId(spec).slice(0, 6)}`,
    spec,
    sweepId: "s",
    attempt: 0,
    engine: o.engine ?? "onnx",
    device: o.device ?? "cpu",
  };
}

const packing = (width: number, classes = 2): Packing => ({
  width: () => width,
  columns: (j) => jobColumns(j, classes),
  key: fusionKey,
});
const names = (jobs: Job[]) => jobs.map((j) => j.id.split("-")[0]);

describe("packBatch", () => {
  it("takes the first job, then compatible ones in the given (priority) order, up to the width", () => {
    const jobs = [job("a"), job("b"), job("c"), job("d")];
    expect(names(packBatch(jobs, packing(30)))).toEqual(["a", "b", "c"]);
    expect(names(packBatch(jobs, packing(100)))).toEqual(["a", "b", "c", "d"]);
    expect(names(packBatch(jobs, packing(25)))).toEqual(["a", "b"]);
  });

  it("packs only jobs with the same dataset, features, engine and device", () => {
    const jobs = [
      job("a"),
      job("b", { dataset: "synthetic?b" }),
      job("c", { engine: "reference" }),
      job("d", { device: "cuda" }),
      job("e"),
    ];
    const features = job("f");
    features.spec = { ...features.spec!, featuresPath: "/features/x" };
    expect(names(packBatch([...jobs, features], packing(1000)))).toEqual(["a", "e"]);
  });

  it("runs a job wider than the width alone, never lets one join, and skips to later ones that fit", () => {
    const wide = job("w", { chains: 50 });
    expect(names(packBatch([wide, job("a"), job("b")], packing(40)))).toEqual(["w"]);
    expect(names(packBatch([job("a"), wide, job("b", { chains: 25 }), job("c")], packing(40)))).toEqual([
      "a",
      "b",
    ]);
    expect(names(packBatch([job("a"), wide, job("b", { chains: 35 }), job("c")], packing(40)))).toEqual([
      "a",
      "c",
    ]);
  });

  it("counts multiclass columns as chains × classes", () => {
    const jobs = [job("a", { chains: 3 }), job("b", { chains: 3 }), job("c", { chains: 3 })];
    expect(names(packBatch(jobs, packing(60, 10)))).toEqual(["a", "b"]);
    expect(names(packBatch(jobs, packing(60, 2)))).toEqual(["a", "b", "c"]);
  });

  it("width 0 or 1: no fusion; jobs to run alone neither lead nor join", () => {
    const jobs = [job("a", { chains: 1 }), job("b", { chains: 1 })];
    expect(names(packBatch(jobs, packing(0)))).toEqual(["a"]);
    expect(names(packBatch(jobs, packing(1)))).toEqual(["a"]);
    const [a, b, c] = [job("a"), job("b"), job("c")];
    expect(names(packBatch([a, b, c], packing(100), new Set([b.id])))).toEqual(["a", "c"]);
    expect(names(packBatch([a, b, c], packing(100), new Set([a.id])))).toEqual(["a"]);
    expect(packBatch([], packing(100))).toEqual([]);
  });
});

describe("ReadyQueue.popBatch", () => {
  it("pops the highest-priority job and its compatible mates by priority; the rest stay queued", () => {
    const jobs = [
      job("a"),
      job("b", { engine: "reference" }),
      job("c"),
      job("d"),
      job("e", { engine: "reference" }),
    ];
    const priority = new Map([
      [jobs[0]!.id, 10],
      [jobs[1]!.id, 50],
      [jobs[2]!.id, 30],
      [jobs[3]!.id, 40],
      [jobs[4]!.id, 20],
    ]);
    const queue = new ReadyQueue(jobs, priority, packing(20));
    for (const j of jobs) queue.push(j);
    expect(names(queue.popBatch())).toEqual(["b", "e"]);
    expect(queue.size).toBe(3);
    expect(names(queue.popBatch())).toEqual(["d", "c"]);
    expect(names(queue.popBatch())).toEqual(["a"]);
    expect(queue.size).toBe(0);
    expect(queue.popBatch()).toEqual([]);
    // A popped job can be queued again (an unfused retry) and then runs alone when asked.
    queue.push(jobs[0]!);
    queue.push(jobs[2]!);
    const alone = new Set([jobs[2]!.id]);
    expect(names(queue.popBatch(alone))).toEqual(["c"]);
    expect(names(queue.popBatch(alone))).toEqual(["a"]);
    expect(queue.size).toBe(0);
  });

  it("without a Packing, pops one job at a time (no fusion)", () => {
    const jobs = [job("a"), job("b")];
    const queue = new ReadyQueue(jobs, new Map());
    for (const j of jobs) queue.push(j);
    expect(names(queue.popBatch())).toEqual(["a"]);
    expect(queue.size).toBe(1);
  });
});
