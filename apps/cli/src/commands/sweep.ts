/**
 * `pnpm sweep --config sweeps/fig5.json [options]`: plan a sweep, run it on the local cores with the
 * embedded coordinator (PGlite + worker threads), store every result, and render the paper figure.
 * Exit code 0 when every job is done, 1 when some failed, 2 for a bad command line or config, 130 when
 * interrupted (finished results stay stored; rerunning the same command resumes).
 */
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { dbHelp, type Store } from "@unlearn/db";
import type { ResultRow } from "@unlearn/protocol";
import {
  ConfigError,
  type ConfigOverrides,
  findSweepsDir,
  loadConfig,
  PlanError,
  type RunEvent,
  runSweep,
  type SweepOutcome,
  type SweepProgress,
} from "@unlearn/sweep";
import { type RemoteTarget, remoteSweep, remoteTarget, type SweepUi } from "../remote.ts";
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
  --engine NAME         onnx | tfjs | reference
  --workers N           worker threads (default: one per two cores; engine threads = cores / workers)
  --db PATH|URL         ${dbHelp(24)}
  --figures-dir PATH    where the figure goes (default: .unlearn/figures/<sweep id>)
  --json                print one JSON object on stdout when the sweep ends (progress stays on stderr)
  --coordinator HOST:PORT  submit to a cluster coordinator instead of running here ($UNLEARN_COORDINATOR)
  --token T             the coordinator's token ($UNLEARN_TOKEN)
  --watch ID            with --coordinator: reattach to a running sweep and follow it to its end
  --cancel ID           with --coordinator: cancel a running sweep
  --help                show this help

presets (sweeps/):
${presetList()}`;
}

const integer = integerFlag;

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function progressLine(p: SweepProgress): string {
  const rate =
    p.stepsPerSecond > 0
      ? `${p.stepsPerSecond.toFixed(p.stepsPerSecond < 100 ? 1 : 0)} steps/s`
      : "– steps/s";
  const eta = p.etaSeconds === null ? "ETA –" : `ETA ${duration(p.etaSeconds)}`;
  return `${p.done}/${p.total} jobs (${p.reused} reused, ${p.failed} failed, ${p.running} running)  ${rate}  ${eta}`;
}

/** Progress on stderr: one rewritten line on a terminal, a plain line now and then otherwise. */
function progressReporter(stream: NodeJS.WriteStream) {
  const tty = Boolean(stream.isTTY);
  let lastPlain = 0;
  let lineShown = false;
  let lastDone = -1;
  const PLAIN_EVERY_MS = 10_000;
  return {
    event(e: RunEvent) {
      if (e.type === "planned") {
        for (const warning of e.warnings) stream.write(`warning: ${warning}\n`);
        stream.write(
          `sweep ${e.sweepId}: ${e.jobs} jobs, ${e.reused} already stored, ${e.toRun} to run on ${e.workers} worker(s) × ${e.threads} thread(s)\n`,
        );
      } else if (e.type === "progress") {
        const line = progressLine(e.progress);
        if (tty) {
          stream.write(`\r\x1b[2K${line}`);
          lineShown = true;
        } else if (e.progress.done !== lastDone || performance.now() - lastPlain >= PLAIN_EVERY_MS) {
          // Logs get a line per finished job, and one every PLAIN_EVERY_MS while long jobs run.
          lastPlain = performance.now();
          lastDone = e.progress.done;
          stream.write(`${line}\n`);
        }
      } else if (e.type === "result" && !e.result.ok) {
        if (lineShown) stream.write("\n");
        lineShown = false;
        stream.write(`job ${e.job.id.slice(0, 12)} failed: ${e.result.error}\n`);
      }
    },
    end() {
      if (lineShown) stream.write("\n");
      lineShown = false;
    },
  };
}

/** One line per series: points, and the mean accuracy over them with its range. */
function seriesTable(rows: ResultRow[]): string {
  const groups = new Map<string, ResultRow[]>();
  for (const r of rows) {
    const key = `${r.figure || "(dependency)"}\u0000${r.series}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const lines = [...groups.entries()].map(([key, rs]) => {
    const [figure, series] = key.split("\u0000") as [string, string];
    const means = rs.map((r) => r.accuracyMean);
    const avg = means.reduce((a, b) => a + b, 0) / means.length;
    const std = rs.reduce((a, r) => a + r.accuracyStd, 0) / rs.length;
    return [
      figure.padEnd(12),
      series.padEnd(24),
      String(rs.length).padStart(6),
      `${avg.toFixed(4)} ± ${std.toFixed(4)}`.padStart(18),
      `${Math.min(...means).toFixed(4)}–${Math.max(...means).toFixed(4)}`.padStart(16),
    ].join("  ");
  });
  const header = [
    "figure".padEnd(12),
    "series".padEnd(24),
    "points".padStart(6),
    "accuracy (mean ± std)".padStart(18),
    "range of means".padStart(16),
  ].join("  ");
  return [header, ...lines].join("\n");
}

async function renderSweepFigure(
  rows: ResultRow[],
  figure: string,
  outDir: string,
): Promise<{ svg?: string; png?: string; note?: string }> {
  let figures: typeof import("@unlearn/figures");
  try {
    figures = await import("@unlearn/figures");
  } catch (error) {
    return { note: `figure not rendered: @unlearn/figures is not available (${(error as Error).message})` };
  }
  if (!figures.isFigureId(figure)) return { note: `figure not rendered: "${figure}" is not a paper figure` };
  if (!rows.some((r) => r.figure === figure))
    return { note: "figure not rendered: no stored results for it yet" };
  try {
    const files = await figures.renderFigure(rows, figure, { outDir });
    return { svg: files.svg, png: files.png };
  } catch (error) {
    return { note: `figure not rendered: ${(error as Error).message}` };
  }
}

/** The embedded mode's printing, shared with the coordinator mode (../remote.ts). */
const sweepUi: SweepUi = { progressReporter, seriesTable, renderSweepFigure, duration };

export async function run(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parse>["values"];
  function parse(args: string[]) {
    return {
      values: parseFlags(args, {
        config: { type: "string" },
        chains: { type: "string" },
        "burn-in": { type: "string" },
        seed: { type: "string" },
        dataset: { type: "string" },
        "features-dir": { type: "string" },
        engine: { type: "string" },
        workers: { type: "string" },
        db: { type: "string" },
        "figures-dir": { type: "string" },
        coordinator: { type: "string" },
        token: { type: "string" },
        watch: { type: "string" },
        cancel: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      }),
    };
  }
  let overrides: ConfigOverrides;
  let workers: number | undefined;
  let remote: RemoteTarget | undefined;
  try {
    values = parse(argv).values;
    if (values.help) {
      console.log(usage());
      return 0;
    }
    remote = remoteTarget(values);
    if ((values.watch || values.cancel) && !remote)
      throw new UsageError("--watch and --cancel need --coordinator HOST:PORT (or UNLEARN_COORDINATOR)");
    if (remote && (values.watch || values.cancel)) {
      const target = {
        watch: values.watch,
        cancel: values.cancel,
        json: values.json,
        figuresDir: values["figures-dir"],
      };
      return await remoteSweep(remote, target, sweepUi);
    }
    if (!values.config) throw new UsageError("--config is required (a config file or a preset name)");
    overrides = {
      chains: integer("--chains", values.chains, 1),
      burnIn: integer("--burn-in", values["burn-in"], 1),
      seed: integer("--seed", values.seed, 0),
      dataset: values.dataset,
      featuresDir: values["features-dir"],
      engine: values.engine,
    };
    workers = integer("--workers", values.workers, 1);
  } catch (error) {
    return usageFailure("pnpm sweep", error);
  }

  let config: ReturnType<typeof loadConfig>["config"];
  try {
    config = loadConfig(values.config, overrides).config;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`error: ${error.message}`);
      return 2;
    }
    throw error;
  }

  if (remote)
    return remoteSweep(remote, { config, json: values.json, figuresDir: values["figures-dir"] }, sweepUi);
  const json = values.json;
  const out = (text: string) => (json ? process.stderr : process.stdout).write(`${text}\n`);
  // --db, else UNLEARN_DB, else DATABASE_URL, else .unlearn/db: the rule every command follows.
  const opened = await openCommandStore("pnpm sweep", values.db, { create: true });
  if (typeof opened === "number") return opened;
  const store: Store = opened;
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write(
      "\ninterrupted: stopping (finished results are stored; run the same command to resume)\n",
    );
    controller.abort();
  };
  // SIGTERM (docker stop, kill) stops the same way as Ctrl-C.
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);
  const progress = progressReporter(process.stderr);
  let outcome: SweepOutcome;
  try {
    try {
      outcome = await runSweep(config, {
        db: store,
        workers,
        signal: controller.signal,
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
      process.off("SIGINT", onSigint);
      process.off("SIGTERM", onSigint);
    }
    const rows = await store.sweepResults(outcome.sweepId);
    out(
      `\nsweep ${outcome.sweepId} (${config.name}) ${outcome.cancelled ? "interrupted" : outcome.state}: ` +
        `${outcome.jobs} jobs, ${outcome.ran} run, ${outcome.reused} reused, ${outcome.failed} failed` +
        `${outcome.notRun ? `, ${outcome.notRun} not run` : ""}, ` +
        `wall ${duration(outcome.wallMs / 1000)}; results in ${outcome.location}`,
    );
    if (rows.length > 0) out(seriesTable(rows));
    const outDir = resolve(values["figures-dir"] ?? join(".unlearn", "figures", outcome.sweepId));
    const figure = await renderSweepFigure(rows, config.figure, outDir);
    out(figure.note ?? `figure: ${[figure.svg, figure.png].filter(Boolean).join(", ")}`);
    if (json) {
      const summary = {
        sweep: outcome.sweepId,
        state: outcome.state,
        jobs: outcome.jobs,
        failed: outcome.failed,
        ran: outcome.ran,
        reused: outcome.reused,
        cancelled: outcome.cancelled,
        notRun: outcome.notRun,
        wallMs: Math.round(outcome.wallMs),
        db: outcome.location,
        figure: figure.svg || figure.png ? { svg: figure.svg ?? null, png: figure.png ?? null } : null,
      };
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    }
    return outcome.cancelled ? 130 : outcome.state === "done" ? 0 : 1;
  } finally {
    await store.close();
  }
}
