/**
 * Child process of share.test.ts: opens the PGlite directory argv[2] (hosting it, or as a client of
 * the process that does), writes argv[3] jobs with results under sweep argv[4], printing "ack <jobId>"
 * after each acknowledged write, then "done". With argv[5] = "hold" it keeps the store open until its
 * stdin closes.
 */
import { JobResult } from "@unlearn/protocol";
import { openStore } from "../src/index.ts";

const [dir, count, sweep, mode] = process.argv.slice(2);
const store = await openStore(dir);
process.stdout.write(`role ${store.share?.role}\n`);
await store.createSweep({ id: sweep, name: "writer", figure: "none", config: {}, seed: "1" });
for (let i = 0; i < Number(count); i++) {
  const id = `${sweep}-job-${i}`;
  await store.upsertJobs([{ id, kind: "learn", spec: { dataset: "synthetic", chains: 2 }, parentId: null }]);
  await store.linkSweepJobs(sweep, [{ jobId: id, figure: "none", series: "s", labels: {} }]);
  await store.saveResult(
    JobResult.fromPartial({ jobId: id, ok: true, accuracies: [0.5, 1], engine: "x", worker: "y" }),
  );
  process.stdout.write(`ack ${id}\n`);
}
await store.setSweepState(sweep, "done");
process.stdout.write("done\n");
if (mode === "hold") {
  await new Promise<void>((resolve) => {
    process.stdin.on("end", resolve);
    process.stdin.resume();
  });
}
await store.close();
