/**
 * Sweep benchmark (not a test): the wall time of a figure's whole plan, run unfused (each job alone, in
 * plan order) and fused (batches packed as the scheduler packs them on one worker: ReadyQueue.popBatch
 * with the scheduler's priorities, fusion key and the engine's width, resolveBatchColumns: the
 * highest-priority ready job plus ready mates up to the width, a child ready once its parent ran), on
 * the same engine, in one process. The store and worker threads are left out of both: what is timed
 * is the computation. Both modes give each job the same chains (tests: execute-fused.test.ts);
 * the largest difference between the two modes' accuracy means is printed as a check.
 *
 * Usage: pnpm bench:sweep [--json] [--figures fig3a,fig5] [--chains N] [--burn-in N] [--engine NAME] [--threads K] [--dataset SPEC]
 * Defaults: Figure 3a at 10 chains and Figure 5 at 30 chains (--chains sets both), burn-in 2000.
 * With --json, stdout is one object: {"runs": [{"figure", "chains", "burnIn", "fusedMs", "unfusedMs", "engine",
 * "columnSteps"}, …]}. columnSteps (Σ over jobs of steps × columns) is the same work in both modes: fusion
 * cannot lower it, only the time per column-step. Each mode's ms per column-step is printed; compare it
 * with the engine's step per column at the batch width (bench:step --chains), the floor fusion can reach.
 */
import os from "node:os";
import * as accountant from "@unlearn/accountant";
import { EXIT, integerFlag, parseFlags, UsageError, usageFailure } from "@unlearn/cli/usage";
import { ENGINE_NAMES } from "@unlearn/core";
import {
  childrenOf,
  datasetFacts,
  disposeEngines,
  type ExecuteOutput,
  executeJob,
  executeJobs,
  fusionKey,
  jobColumns,
  loadConfig,
  planSweep,
  ReadyQueue,
  remainingPaths,
  resolveBatchColumns,
} from "@unlearn/sweep";

const DEFAULT_CHAINS: Record<string, number> = { fig3a: 10, fig5: 30 };

const USAGE = `usage: pnpm bench:sweep [--json] [--figures LIST] [--chains N] [--burn-in N] [--engine NAME] [--threads K] [--dataset SPEC]

Times a figure's plan run job by job and fused (batches packed as the scheduler packs them, up to the
engine's width: UNLEARN_BATCH_COLUMNS when set, else @unlearn/core's batchColumns).

options:
  --figures LIST  comma-separated presets of sweeps/ (default fig3a,fig5)
  --chains N      chains per job (default: 10 for fig3a, 30 for fig5)
  --burn-in N     burn-in steps (default 2000)
  --engine NAME   ${ENGINE_NAMES.join(" | ")} (default onnx)
  --threads K     engine threads (default: all cores)
  --dataset SPEC  another dataset than the preset's (e.g. a synthetic one for a quick check)
  --json          print one JSON object on stdout (the readable report goes to stderr)
  --help          show this help`;

function commandLine(argv: string[]) {
  try {
    const values = parseFlags(argv, {
      json: { type: "boolean", default: false },
      figures: { type: "string", default: "fig3a,fig5" },
      chains: { type: "string" },
      "burn-in": { type: "string", default: "2000" },
      engine: { type: "string", default: "onnx" },
      threads: { type: "string" },
      dataset: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    });
    if (values.help) {
      console.log(USAGE);
      return EXIT.ok;
    }
    if (!(ENGINE_NAMES as readonly string[]).includes(values.engine))
      throw new UsageError(`--engine must be one of ${ENGINE_NAMES.join(", ")}; got "${values.engine}"`);
    return {
      json: values.json,
      figures: values.figures.split(",").filter((f) => f !== ""),
      chains: integerFlag("--chains", values.chains, 1),
      burnIn: integerFlag("--burn-in", values["burn-in"], 1)!,
      engine: values.engine,
      threads: integerFlag("--threads", values.threads, 1),
      dataset: values.dataset,
    };
  } catch (error) {
    return usageFailure("pnpm bench:sweep", error);
  }
}

const parsed = commandLine(process.argv.slice(2));
if (typeof parsed === "number") process.exit(parsed);
const args = parsed;
const log = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);

function failures(outputs: Iterable<ExecuteOutput>): string[] {
  return [...outputs].filter((o) => !o.result.ok).map((o) => `${o.result.jobId}: ${o.result.error}`);
}

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;

async function timeFigure(figure: string) {
  const chains = args.chains ?? DEFAULT_CHAINS[figure] ?? 10;
  const overrides = { chains, burnIn: args.burnIn, engine: args.engine };
  const { config } = loadConfig(figure, args.dataset ? { ...overrides, dataset: args.dataset } : overrides);
  const facts = await datasetFacts(config);
  const plan = planSweep(config, facts, accountant);
  const options = { threads: args.threads };

  const alone = new Map<string, ExecuteOutput>();
  const loadAlone = async (key: string) => alone.get(key)?.artifact?.W ?? null;
  // One job first, untimed: loads the dataset and the engine for both modes.
  await executeJob(plan.jobs[0], { ...options, loadArtifact: async () => null });
  let t0 = performance.now();
  for (const job of plan.jobs)
    alone.set(job.id, await executeJob(job, { ...options, loadArtifact: loadAlone }));
  const unfusedMs = performance.now() - t0;

  const fused = new Map<string, ExecuteOutput>();
  const loadFused = async (key: string) => fused.get(key)?.artifact?.W ?? null;
  const widths: number[] = [];
  // The scheduler's packing on one worker: priorities (longest remaining path), key and width as its.
  const width = resolveBatchColumns(args.engine, "cpu");
  const all = new Set(plan.jobs.map((j) => j.id));
  const ready = new ReadyQueue(plan.jobs, remainingPaths(plan.jobs, all), {
    key: fusionKey,
    columns: (job) => jobColumns(job, facts.classes),
    width: () => width,
  });
  const children = childrenOf(plan.jobs);
  for (const job of plan.jobs) if (!job.spec!.parentId) ready.push(job);
  t0 = performance.now();
  for (let batch = ready.popBatch(); batch.length > 0; batch = ready.popBatch()) {
    const outputs = await executeJobs(batch, { ...options, loadArtifact: loadFused });
    for (const [i, job] of batch.entries()) {
      fused.set(job.id, outputs[i]);
      if (outputs[i].result.ok) for (const child of children.get(job.id) ?? []) ready.push(child);
    }
    widths.push(batch.reduce((sum, job) => sum + jobColumns(job, facts.classes), 0));
  }
  const fusedMs = performance.now() - t0;

  const columnSteps = plan.jobs.reduce(
    (sum, job) => sum + job.spec!.steps * jobColumns(job, facts.classes),
    0,
  );
  const perColumnStep = (ms: number) => `${(ms / columnSteps).toFixed(3)} ms`;
  const failed = [...failures(alone.values()), ...failures(fused.values())];
  if (failed.length > 0) throw new Error(`${figure}: jobs failed: ${failed.slice(0, 3).join("; ")}`);
  let worst = 0;
  const missing = plan.jobs.filter((job) => !fused.has(job.id));
  if (missing.length > 0) throw new Error(`${figure}: ${missing.length} jobs were not run fused`);
  for (const job of plan.jobs)
    worst = Math.max(
      worst,
      Math.abs(mean(alone.get(job.id)!.result.accuracies) - mean(fused.get(job.id)!.result.accuracies)),
    );
  log(
    `${figure}: ${plan.jobs.length} jobs, ${chains} chains, burn-in ${args.burnIn}, ${args.engine}: ` +
      `unfused ${(unfusedMs / 1000).toFixed(1)} s, fused ${(fusedMs / 1000).toFixed(1)} s ` +
      `(${(unfusedMs / fusedMs).toFixed(2)}× faster; width ${width}, ${widths.length} batches of ${widths.join(", ")} columns); ` +
      `${columnSteps} column-steps: ${perColumnStep(unfusedMs)} unfused and ${perColumnStep(fusedMs)} fused per column-step; ` +
      `largest difference of a job's mean accuracy between the modes: ${worst.toExponential(1)}`,
  );
  return { figure, chains, burnIn: args.burnIn, fusedMs, unfusedMs, engine: args.engine, columnSteps };
}

log(`Sweep benchmark on ${os.availableParallelism()} cores, shared with other processes (one run per mode)`);
const runs = [];
try {
  for (const figure of args.figures) runs.push(await timeFigure(figure));
} finally {
  await disposeEngines();
}
if (args.json) process.stdout.write(`${JSON.stringify({ runs })}\n`);
