/**
 * The progress display of a running sweep, from its RunEvents: shared by `pnpm sweep` in the embedded
 * mode and the cluster mode's progress stream, so both print the same thing.
 *
 * On a terminal: a block redrawn in place, a summary line and one line per running job with its own
 * steps. In a log (not a terminal): one line when a job starts and one when it ends, plus a line with
 * every running job's steps every `logEveryMs` while jobs run (a long job still shows it is alive).
 */
import type { RunEvent } from "./scheduler.ts";
import type { RunningJob, SweepProgress } from "./scheduler-progress.ts";

export interface DisplayStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressDisplayOptions {
  /** redraw in place (default: the stream's isTTY) */
  tty?: boolean;
  /** in a log, a line with the running jobs' steps at most this often (default 30 s) */
  logEveryMs?: number;
  now?: () => number;
}

export interface ProgressDisplay {
  event(e: RunEvent): void;
  /** Clears the live block (the caller prints the outcome next). */
  end(): void;
}

/** 59s, 4m05s, 2h03m. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** "3/23 jobs (0 reused, 0 failed, 1 running)  512 steps/s  ETA 4m10s" */
export function summaryLine(p: SweepProgress): string {
  const rate =
    p.stepsPerSecond > 0
      ? `${p.stepsPerSecond.toFixed(p.stepsPerSecond < 100 ? 1 : 0)} steps/s`
      : "– steps/s";
  const eta = p.etaSeconds === null ? "ETA –" : `ETA ${formatDuration(p.etaSeconds)}`;
  return `${p.done}/${p.total} jobs (${p.reused} reused, ${p.failed} failed, ${p.running} running)  ${rate}  ${eta}`;
}

/** "  unlearn S=100 ε=1 K=1491  [####------]  596/1491" */
export function jobLine(job: RunningJob, nameWidth = 0): string {
  const share = job.stepsTotal > 0 ? Math.min(1, job.stepsDone / job.stepsTotal) : 0;
  const filled = Math.round(share * 10);
  const bar = `[${"#".repeat(filled)}${"-".repeat(10 - filled)}]`;
  return `  ${job.name.padEnd(nameWidth)}  ${bar} ${String(job.stepsDone).padStart(String(job.stepsTotal).length)}/${job.stepsTotal}`;
}

export function progressDisplay(
  stream: DisplayStream,
  options: ProgressDisplayOptions = {},
): ProgressDisplay {
  return (options.tty ?? Boolean(stream.isTTY))
    ? terminalDisplay(stream)
    : logDisplay(stream, options.logEveryMs ?? 30_000, options.now ?? (() => performance.now()));
}

/** Text for the events every display prints as lines: the plan, warnings, failures and skips. */
function messageOf(e: RunEvent): string | null {
  if (e.type === "planned")
    return [
      ...e.warnings.map((w) => `warning: ${w}`),
      `sweep ${e.sweepId}: ${e.jobs} jobs, ${e.reused} already stored, ${e.toRun} to run on ${e.workers} worker(s) × ${e.threads} thread(s)`,
    ].join("\n");
  if (e.type === "result" && !e.result.ok)
    return `job ${e.name ?? e.job.id.slice(0, 12)} failed: ${e.result.error}`;
  if (e.type === "skipped") return `job ${e.name ?? e.job.id.slice(0, 12)} ${e.reason}`;
  return null;
}

function terminalDisplay(stream: DisplayStream): ProgressDisplay {
  let shown = 0;
  let last: SweepProgress | null = null;
  const clear = () => {
    if (shown > 0) stream.write(`\r${shown > 1 ? `\x1b[${shown - 1}A` : ""}\x1b[J`);
    shown = 0;
  };
  const draw = () => {
    if (!last) return;
    const width = Math.max(20, (stream.columns || 100) - 1);
    const jobs = last.jobs ?? [];
    const nameWidth = Math.max(0, ...jobs.map((j) => j.name.length));
    // Lines never wrap: a wrapped line would break the count of lines to move up on the next redraw.
    const lines = [summaryLine(last), ...jobs.map((j) => jobLine(j, nameWidth))].map((l) =>
      l.slice(0, width),
    );
    stream.write(lines.join("\n"));
    shown = lines.length;
  };
  return {
    event(e) {
      const message = messageOf(e);
      if (e.type === "progress") last = e.progress;
      if (message === null && e.type !== "progress") return;
      clear();
      if (message !== null) stream.write(`${message}\n`);
      draw();
    },
    end() {
      clear();
      last = null;
    },
  };
}

function logDisplay(stream: DisplayStream, everyMs: number, now: () => number): ProgressDisplay {
  let last: SweepProgress | null = null;
  let lastLine = now();
  const line = (text: string) => {
    stream.write(`${text}\n`);
    lastLine = now();
  };
  return {
    event(e) {
      const message = messageOf(e);
      if (message !== null) line(message);
      if (e.type === "progress") {
        last = e.progress;
        const jobs = last.jobs ?? [];
        if (now() - lastLine >= everyMs && last.running > 0)
          line(`${summaryLine(last)}${jobs.map((j) => `\n${jobLine(j)}`).join("")}`);
      } else if (e.type === "started") {
        line(`started  ${e.name}${last ? `  (${summaryLine(last)})` : ""}`);
      } else if (e.type === "result" && e.result.ok) {
        const took = formatDuration(e.result.wallMs / 1000);
        line(`finished ${e.name ?? e.job.id.slice(0, 12)} in ${took}${last ? `  ${summaryLine(last)}` : ""}`);
      }
    },
    end() {},
  };
}
