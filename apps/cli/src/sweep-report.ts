/**
 * What `pnpm sweep` prints, in the embedded and the coordinator mode alike: the progress display while
 * it runs, then the summary line, the series table, the figure and `--json`'s object. One piece of code
 * for both modes, so that they cannot drift apart.
 */
import { join, resolve } from "node:path";
import type { ResultRow } from "@unlearn/protocol";
import { formatDuration, type ProgressDisplay, progressDisplay } from "@unlearn/sweep";

/**
 * Progress on stderr (packages/sweep's display, shared with the coordinator mode): a redrawn block
 * with the running jobs on a terminal; otherwise a line per job start and end, and the running jobs'
 * steps every UNLEARN_PROGRESS_LOG_MS (default 30 s).
 */
export function progressReporter(stream: NodeJS.WriteStream): ProgressDisplay {
  const every = Number(process.env.UNLEARN_PROGRESS_LOG_MS);
  return progressDisplay(stream, Number.isFinite(every) && every > 0 ? { logEveryMs: every } : {});
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

/** How a sweep ended, as the scheduler (embedded) or the coordinator's SweepDone (cluster) says it. */
export interface SweepEnd {
  sweepId: string;
  name: string;
  figure: string;
  state: string;
  jobs: number;
  ran: number;
  reused: number;
  failed: number;
  notRun: number;
  cancelled: boolean;
  /** "" when none */
  error: string;
  wallMs: number;
  /** where the results are (masked URL for Postgres) */
  location: string;
}

export interface ReportOptions {
  json: boolean;
  figuresDir?: string;
  /** said after the location, e.g. " (coordinator HOST:PORT)" */
  via?: string;
}

/**
 * The summary line, the series table and the figure (stdout, or stderr under --json), then --json's
 * object on stdout. Resolves with the command's exit code: 130 interrupted, 0 done, 1 otherwise.
 */
export async function reportSweepEnd(
  end: SweepEnd,
  rows: ResultRow[],
  options: ReportOptions,
): Promise<number> {
  const out = (text: string) => (options.json ? process.stderr : process.stdout).write(`${text}\n`);
  out(
    `\nsweep ${end.sweepId} (${end.name}) ${end.cancelled ? "interrupted" : end.state}: ` +
      `${end.jobs} jobs, ${end.ran} run, ${end.reused} reused, ${end.failed} failed` +
      `${end.notRun ? `, ${end.notRun} not run` : ""}, ` +
      `wall ${formatDuration(end.wallMs / 1000)}; results in ${end.location}${options.via ?? ""}`,
  );
  if (rows.length > 0) out(seriesTable(rows));
  const outDir = resolve(options.figuresDir ?? join(".unlearn", "figures", end.sweepId));
  const figure = await renderSweepFigure(rows, end.figure, outDir);
  out(figure.note ?? `figure: ${[figure.svg, figure.png].filter(Boolean).join(", ")}`);
  if (options.json) {
    const summary = {
      sweep: end.sweepId,
      state: end.state,
      jobs: end.jobs,
      failed: end.failed,
      ran: end.ran,
      reused: end.reused,
      cancelled: end.cancelled,
      error: end.error || null,
      notRun: end.notRun,
      wallMs: Math.round(end.wallMs),
      db: end.location,
      figure: figure.svg || figure.png ? { svg: figure.svg ?? null, png: figure.png ?? null } : null,
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  }
  return end.cancelled ? 130 : end.state === "done" ? 0 : 1;
}
