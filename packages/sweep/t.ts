import { openStore } from "@unlearn/db";
import { parseConfig } from "./src/config.ts";
import { runSweep } from "./src/run.ts";

const config = parseConfig({
  name: "t",
  figure: "fig5",
  dataset: "synthetic?n=300&d=8&test=200&classes=2&seed=1",
  engine: "reference",
  chains: 8,
  burnIn: 200,
  removals: [1, 10, 50],
  epsilons: [0.5, 2],
  sigma: 0.03,
});
const store = await openStore("memory://");
const t = performance.now();
const out = await runSweep(config, {
  db: store,
  workers: 2,
  onEvent: (e) => e.type !== "result" && console.log(JSON.stringify(e.type === "progress" ? e.progress : e)),
});
console.log(out.state, out.jobs, out.ran, out.failed, performance.now() - t);
const rows = await store.sweepResults(out.sweepId);
console.log(
  rows.length,
  rows.map((r) => [r.series, r.kind, r.removals, r.K, r.accuracyMean.toFixed(3)].join(" ")).join("\n"),
);
const out2 = await runSweep(config, { db: store, workers: 2 });
console.log(out2.state, out2.reused, out2.ran);
await store.close();
