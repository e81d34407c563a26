/**
 * Wall time of a sweep's compute (default: Figure 5 on MNIST 3v8, sweeps/fig5.json, the paper's
 * settings) on one engine, without a database: the planner's jobs run in dependency order in this
 * process, up to --concurrency at a time on one shared engine, parents' chains kept in memory. It
 * times what `pnpm sweep` spends in jobs (the store and figures add a few seconds there).
 *
 * Usage: fig5.ts [--config PATH] [--engine webgpu] [--chains N] [--burn-in N] [--dataset D] [--concurrency 4]
 *                [--limit-s 240]
 * Prints one line per finished job and a closing line with the wall time and mean accuracies;
 * exits 1 if a job fails or the time limit is reached first (the jobs done by then are reported).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as accountant from "@unlearn/accountant";
import { datasetConstants, loadDataset } from "@unlearn/core";
import type { Job } from "@unlearn/protocol";
import { parseConfig } from "../../packages/sweep/src/config.ts";
import { executeJob } from "../../packages/sweep/src/execute.ts";
import { planSweep } from "../../packages/sweep/src/planner.ts";

const { values: args } = parseArgs({
  options: {
    config: { type: "string", default: "sweeps/fig5.json" },
    engine: { type: "string", default: "webgpu" },
    chains: { type: "string" },
    "burn-in": { type: "string" },
    dataset: { type: "string" },
    concurrency: { type: "string", default: "4" },
    "limit-s": { type: "string", default: "240" },
  },
});

function positive(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`${flag} must be a positive integer, got "${text}"`);
  return v;
}

async function main(): Promise<number> {
  const config = parseConfig(JSON.parse(readFileSync(args.config!, "utf8")), args.config, {
    engine: args.engine,
    chains: positive("--chains", args.chains),
    burnIn: positive("--burn-in", args["burn-in"]),
    dataset: args.dataset,
  });
  const concurrency = positive("--concurrency", args.concurrency)!;
  const limitMs = positive("--limit-s", args["limit-s"])! * 1000;
  const ds = await loadDataset(config.dataset);
  const c = datasetConstants(ds, { lambda: config.lambda, smoothness: config.smoothness });
  const plan = planSweep(config, { n: c.n, d: c.d, classes: c.classes, L: c.L }, accountant);
  const steps = plan.jobs.reduce((s, j) => s + (j.spec?.steps ?? 0), 0);
  console.log(
    `${config.name}: ${plan.jobs.length} jobs, ${steps} steps of ${config.chains} chains, engine ${config.engine}, ` +
      `${concurrency} at a time, limit ${limitMs / 1000} s`,
  );
  const artifacts = new Map<string, Float32Array>();
  const pending = new Set<Job>(plan.jobs);
  const running = new Map<string, Promise<void>>();
  let failed = 0;
  const started = performance.now();
  const start = (job: Job) =>
    (async () => {
      const out = await executeJob(job, { loadArtifact: async (key) => artifacts.get(key) ?? null });
      if (out.artifact) artifacts.set(job.id, out.artifact.W);
      const r = out.result;
      if (!r.ok) failed++;
      const acc = r.accuracies.length
        ? r.accuracies.reduce((a, b) => a + b, 0) / r.accuracies.length
        : Number.NaN;
      console.log(
        `  ${((performance.now() - started) / 1000).toFixed(1).padStart(7)} s  ${job.id.slice(0, 8)} ` +
          `${String(job.spec?.steps).padStart(6)} steps  ${r.ok ? `${r.msPerStep.toFixed(2)} ms/step, accuracy ${acc.toFixed(4)}` : `FAILED: ${r.error}`}`,
      );
    })();
  while (pending.size > 0 || running.size > 0) {
    for (const job of [...pending]) {
      if (running.size >= concurrency) break;
      const parent = job.spec?.parentId;
      if (parent && !artifacts.has(parent)) continue;
      pending.delete(job);
      running.set(
        job.id,
        start(job).finally(() => running.delete(job.id)),
      );
    }
    if (running.size === 0) break; // the rest wait on a parent that failed
    const left = limitMs - (performance.now() - started);
    const timer = new Promise<"limit">((resolve) =>
      setTimeout(() => resolve("limit"), Math.max(0, left)).unref(),
    );
    if ((await Promise.race([...running.values(), timer])) === "limit") {
      console.log(`time limit of ${limitMs / 1000} s reached with ${pending.size + running.size} jobs left`);
      return 1;
    }
  }
  const wall = (performance.now() - started) / 1000;
  const notRun = pending.size;
  console.log(
    `${config.name} on ${config.engine}: ${wall.toFixed(1)} s wall for ${plan.jobs.length - notRun - failed} jobs ` +
      `(${failed} failed, ${notRun} not run), ${((wall * 1000) / steps).toFixed(3)} ms per step overall`,
  );
  return failed + notRun > 0 ? 1 : 0;
}

process.exit(await main());
