/**
 * Child process of kill.test.ts: writes jobs and results into the PGlite directory argv[2] in a loop and
 * prints "ack <jobId>" after each write is acknowledged, until it is killed.
 */
import { JobResult } from "@unlearn/protocol";
import { openStore } from "../src/index.ts";

const store = await openStore(process.argv[2]);
await store.createSweep({ id: "killed", name: "kill -9 test", figure: "none", config: {}, seed: "1" });
process.stdout.write("ready\n");
for (let i = 0; ; i++) {
  const id = `job-${process.pid}-${i}`;
  await store.upsertJobs([{ id, kind: "learn", spec: { dataset: "synthetic", chains: 2 }, parentId: null }]);
  await store.saveResult(
    JobResult.fromPartial({ jobId: id, ok: true, accuracies: [0.5, 1], engine: "x", worker: "y" }),
  );
  process.stdout.write(`ack ${id}\n`);
}
