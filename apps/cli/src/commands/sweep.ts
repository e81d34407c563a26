/**
 * `pnpm sweep --config sweeps/fig5.json [options]`: plan a sweep, run it on the local cores with the
 * embedded coordinator (PGlite + worker threads), store every result, and render the paper figure.
 * Exit code 0 when every job is done, 1 when some failed, 2 for a bad command line or config, 130 when
 * interrupted (finished results stay stored; rerunning the same command resumes).
 */
import { readdirSync } from "node:fs";
import { dbHelp, type Store } from "@unlearn/db";
import {
  ConfigError,
  type ConfigOverrides,
  findSweepsDir,
  loadConfig,
  PlanError,
  runSweep,
  type SweepConfig,
  type SweepOutcome,
} from "@unlearn/sweep";
import { startSweepDashboard } from "../dashboard.ts";
import { type RemoteTarget, remoteSweep, remoteTarget } from "../remote.ts";
import { progressReporter, reportSweepEnd } from "../sweep-report.ts";
import { integerFlag, openCommandStore, parseFlags, UsageError, usageFailure } from "../usage.ts";

function presetList(): string {
  const dir = findSweepsDir();
  if (!dir) return "  (no sweeps/ folder found above the working directory)";
  const names = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -5))
    .sort();
  return names.map((n) => `  ${n}`).join("\n");
}

function usage(): string {
  return `usage: pnpm sweep --config FILE|PRESET [options]

Plans the sweep, runs it on local worker threads, stores every result and renders its figure.
Rerunning the same config resumes it: stored results (from any sweep) are reused, not recomputed.

options:
  --config FILE|PRESET  a sweep config file, or a preset name from sweeps/ (e.g. fig5)
  --chains N            override the number of chains T
  --burn-in N           override the burn-in steps
  --seed N              override the sweep seed
  --dataset NAME        override the dataset (mnist-3v8, cifar10-3v8, cifar10-multi, synthetic?…)
  --features-dir PATH   folder of the CIFAR-10 ResNet-18 features (cifar10-* datasets)
  --engine NAME         onnx | tfjs | reference | webgpu
  --keep-chains         keep every job's final chains in the database (default: only the chains
                        a job of the sweep starts from; leaves keep their accuracies)
  --workers N           worker threads (default: one per two cores; engine threads = cores / workers)
  --db PATH|URL         ${dbHelp(24)}
  --figures-dir PATH    where the figure goes (default: .unlearn/figures/<sweep id>)
  --json                print one JSON object on stdout when the sweep ends (progress stays on stderr)
  --dashboard           start the dashboard beside the sweep and print its address; it stays up
                        after the sweep ends until Ctrl-C
  --coordinator HOST:PORT  submit to a cluster coordinator instead of running here ($UNLEARN_COORDINATOR)
  --token T             the coordinator's token; better $UNLEARN_TOKEN or $UNLEARN_TOKEN_FILE
                        (a command line shows in ps)
  --watch ID            with --coordinator: reattach to a running sweep and follow it to its end
  --cancel ID           with --coordinator: cancel a running sweep
  --help                show this help

presets (sweeps/):
${presetList()}`;
}

const integer = integerFlag;

const FLAGS = {
  config: { type: "string" },
  chains: { type: "string" },
  "burn-in": { type: "string" },
  seed: { type: "string" },
  dataset: { type: "string" },
  "features-dir": { type: "string" },
  engine: { type: "string" },
  "keep-chains": { type: "boolean", default: false },
  workers: { type: "string" },
  db: { type: "string" },
  "figures-dir": { type: "string" },
  coordinator: { type: "string" },
  token: { type: "string" },
  watch: { type: "string" },
  cancel: { type: "string" },
  json: { type: "boolean", default: false },
  dashboard: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;
type SweepFlags = ReturnType<typeof parseFlags<typeof FLAGS>>;

/** A sweep to run here or in the cluster, or the exit code when the command line already decided. */
type Invocation =
  | { flags: SweepFlags; remote?: RemoteTarget; config: SweepConfig; workers?: number }
  | number;

export async function run(argv: string[]): Promise<number> {
  const invocation = await parseInvocation(argv);
  if (typeof invocation === "number") return invocation;
  const { flags, remote, config, workers } = invocation;
  if (remote) return remoteSweep(remote, { config, json: flags.json, figuresDir: flags["figures-dir"] });
  return runHere(config, flags, workers);
}

/** Flags → a config with its overrides; --help, --watch and --cancel end here. */
async function parseInvocation(argv: string[]): Promise<Invocation> {
  let flags: SweepFlags;
  let overrides: ConfigOverrides;
  let workers: number | undefined;
  let remote: RemoteTarget | undefined;
  try {
    flags = parseFlags(argv, FLAGS);
    if (flags.help) {
      console.log(usage());
      return 0;
    }
    remote = remoteTarget(flags);
    if (remote && flags.dashboard)
      throw new UsageError(
        "--dashboard runs beside a local sweep; for a cluster run pnpm dashboard --db URL",
      );
    if ((flags.watch || flags.cancel) && !remote)
      throw new UsageError("--watch and --cancel need --coordinator HOST:PORT (or UNLEARN_COORDINATOR)");
    if (remote && (flags.watch || flags.cancel)) {
      const target = {
        watch: flags.watch,
        cancel: flags.cancel,
        json: flags.json,
        figuresDir: flags["figures-dir"],
      };
      return await remoteSweep(remote, target);
    }
    if (!flags.config) throw new UsageError("--config is required (a config file or a preset name)");
    overrides = {
      chains: integer("--chains", flags.chains, 1),
      burnIn: integer("--burn-in", flags["burn-in"], 1),
      seed: integer("--seed", flags.seed, 0),
      dataset: flags.dataset,
      featuresDir: flags["features-dir"],
      engine: flags.engine,
      keepChains: flags["keep-chains"] || undefined,
    };
    workers = integer("--workers", flags.workers, 1);
  } catch (error) {
    return usageFailure("pnpm sweep", error);
  }
  try {
    return { flags, remote, workers, config: loadConfig(flags.config, overrides).config };
  } catch (error) {
    if (error instanceof ConfigError) return usageFailure("pnpm sweep", error);
    throw error;
  }
}

/** The embedded mode: this process's worker threads and database (and the dashboard beside it). */
async function runHere(config: SweepConfig, flags: SweepFlags, workers: number | undefined): Promise<number> {
  // Ctrl-C is handled from here on (also while the store opens and the plan is made), so it always
  // ends with the sweep stored as interrupted, the store closed (its lock released), and exit 130.
  const interrupt = interruptHandler();
  // --db, else UNLEARN_DB, else DATABASE_URL, else .unlearn/db: the rule every command follows.
  const opened = await openCommandStore("pnpm sweep", flags.db, { create: true });
  if (typeof opened === "number") {
    interrupt.dispose();
    return opened;
  }
  const store: Store = opened;
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const dashboard = flags.dashboard ? startSweepDashboard(flags.db, say) : null;
  dashboard?.url.then((url) => url && say(`dashboard: ${url}`));
  const progress = progressReporter(process.stderr);
  try {
    let outcome: SweepOutcome;
    try {
      outcome = await runSweep(config, {
        db: store,
        workers,
        signal: interrupt.signal,
        onEvent: (e) => progress.event(e),
      });
    } catch (error) {
      progress.end();
      if (error instanceof PlanError) {
        console.error(`error: cannot plan the sweep: ${error.message}`);
        return 2;
      }
      throw error;
    } finally {
      progress.end();
    }
    if (outcome.error) process.stderr.write(`error: ${outcome.error}\n`);
    return await reportSweepEnd(
      { ...outcome, name: config.name, figure: config.figure, error: outcome.error ?? "" },
      await store.sweepResults(outcome.sweepId),
      { json: flags.json, figuresDir: flags["figures-dir"] },
    );
  } finally {
    if (dashboard) {
      // Ctrl-C now stops the dashboard, which reads through this process's share of the database.
      interrupt.dispose();
      await dashboard.hold(!interrupt.signal.aborted, say);
    }
    await store.close();
    interrupt.dispose();
  }
}

/**
 * SIGINT and SIGTERM (docker stop, kill) abort the run: the scheduler abandons running jobs, the worker
 * threads abort between two steps and exit, and the end is stored. A second signal within
 * REPEAT_MS is the same interrupt delivered twice (a process group and a parent relaying it); a later
 * one forces an immediate exit.
 */
function interruptHandler(): { signal: AbortSignal; dispose(): void } {
  const REPEAT_MS = 2000;
  const controller = new AbortController();
  let first = 0;
  const onSignal = () => {
    if (first === 0) {
      first = performance.now();
      process.stderr.write(
        "\ninterrupted: stopping (finished results are stored; run the same command to resume)\n",
      );
      controller.abort();
    } else if (performance.now() - first > REPEAT_MS) {
      process.stderr.write("interrupted again: exiting now\n");
      process.exit(130);
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
