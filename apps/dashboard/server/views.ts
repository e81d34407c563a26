/**
 * From stored rows to what the pages show: a sweep's progress, wall time and ETA, its jobs, and its paper
 * figures (the Vega-Lite specs of @unlearn/figures). Pure functions over Store records, tested on their own.
 */
import type { EventRecord, SweepJobRecord, SweepSummary } from "@unlearn/db";
import { FIGURES, FigureError, figureGroups, figureSpec, isFigureId, seriesOrder } from "@unlearn/figures";
import type { ResultRow } from "@unlearn/protocol";
import type { FigureView, JobView, SweepView } from "../lib/types.ts";

const UNLEARN_KINDS: ReadonlySet<string> = new Set(["unlearn", "d2d-unlearn"]);

interface SpecFields {
  dataset: string;
  steps: number;
}

/** The JobSpec fields the dashboard reads from a job's stored JSON spec. */
export function specFields(spec: unknown): SpecFields {
  const s = (spec ?? {}) as Record<string, unknown>;
  return {
    dataset: typeof s.dataset === "string" ? s.dataset : "",
    steps: typeof s.steps === "number" ? s.steps : Number(s.steps ?? 0) || 0,
  };
}

/** One line per job (a job linked at several points of a series appears once, its series joined). */
export function jobViews(links: readonly SweepJobRecord[]): JobView[] {
  const byId = new Map<string, JobView>();
  for (const link of links) {
    const before = byId.get(link.jobId);
    if (before) {
      if (link.series && !before.series.split(", ").includes(link.series)) {
        before.series = before.series ? `${before.series}, ${link.series}` : link.series;
      }
      continue;
    }
    const { steps } = specFields(link.spec);
    const labelK = typeof link.labels.K === "number" ? link.labels.K : null;
    byId.set(link.jobId, {
      id: link.jobId,
      kind: link.kind,
      figure: link.figure,
      series: link.series,
      state: link.result ? "done" : link.state,
      K: labelK ?? (UNLEARN_KINDS.has(link.kind) ? steps : null),
      steps,
      attempts: link.attempts,
      worker: link.result?.worker ?? null,
      engine: link.result?.engine ?? null,
      msPerStep: link.result?.msPerStep ?? null,
      wallMs: link.result?.wallMs ?? null,
      error: link.result ? null : link.error,
    });
  }
  return [...byId.values()];
}

/**
 * Seconds left at this run's rate: the steps finished since the run's last "planned" event over the time
 * since, applied to the steps of the jobs still to run. Null before the first job of the run finishes.
 */
export function etaSeconds(
  jobs: readonly JobView[],
  finishedAt: ReadonlyMap<string, Date>,
  events: readonly EventRecord[],
  now: Date,
): number | null {
  const planned = [...events].reverse().find((e) => e.type === "planned");
  if (!planned) return null;
  const t0 = planned.at.getTime();
  let finished = 0;
  let remaining = 0;
  for (const job of jobs) {
    const at = finishedAt.get(job.id);
    if (at && at.getTime() >= t0) finished += job.steps;
    if (job.state === "pending" || job.state === "running") remaining += job.steps;
  }
  const elapsed = (now.getTime() - t0) / 1000;
  if (remaining === 0) return 0;
  if (finished === 0 || elapsed <= 0) return null;
  return remaining / (finished / elapsed);
}

/** The sweeps-list and header view of one sweep. */
export function sweepView(
  summary: SweepSummary,
  links: readonly SweepJobRecord[],
  events: readonly EventRecord[],
  now: Date = new Date(),
): SweepView {
  const jobs = jobViews(links);
  const finishedAt = new Map<string, Date>();
  for (const link of links) if (link.result) finishedAt.set(link.jobId, link.result.createdAt);
  const running = summary.state === "running";
  const lastEvent = events.length ? events[events.length - 1].at : summary.createdAt;
  const end = running ? now : new Date(Math.max(lastEvent.getTime(), summary.updatedAt?.getTime() ?? 0));
  return {
    id: summary.id,
    name: summary.name,
    figure: summary.figure,
    datasets: [...new Set(links.map((l) => specFields(l.spec).dataset).filter(Boolean))].sort(),
    state: summary.state,
    jobs: summary.jobs,
    done: summary.done,
    failed: summary.failed,
    running: jobs.filter((j) => j.state === "running").length,
    createdAt: summary.createdAt.toISOString(),
    wallSeconds: Math.max(0, (end.getTime() - summary.createdAt.getTime()) / 1000),
    etaSeconds: running ? etaSeconds(jobs, finishedAt, events, now) : null,
    error: summary.error ?? null,
  };
}

/**
 * The sweep's paper figures, one per (figure, dataset) its links name: drawn from the rows stored so far,
 * with the linked jobs that have no result yet listed as missing.
 */
export function figureViews(
  sweepId: string,
  rows: readonly ResultRow[],
  links: readonly SweepJobRecord[],
): FigureView[] {
  const keys = new Map<string, { figure: string; dataset: string }>();
  for (const link of links) {
    if (!link.figure) continue;
    const dataset = specFields(link.spec).dataset;
    keys.set(`${link.figure}\u0000${dataset}`, { figure: link.figure, dataset });
  }
  let groups: ReturnType<typeof figureGroups> = [];
  let groupError: string | null = null;
  try {
    groups = figureGroups(rows);
  } catch (error) {
    groupError = (error as Error).message;
  }
  for (const g of groups) keys.set(`${g.figure}\u0000${g.dataset}`, { figure: g.figure, dataset: g.dataset });
  return [...keys.values()].map(({ figure, dataset }) => {
    const group = groups.find((g) => g.figure === figure && g.dataset === dataset);
    const missing = links
      .filter((l) => l.figure === figure && specFields(l.spec).dataset === dataset && !l.result)
      .map((l) => ({ job: l.jobId, series: l.series, state: l.state }));
    const uniqueMissing = [...new Map(missing.map((m) => [`${m.job}\u0000${m.series}`, m])).values()];
    return drawFigure(sweepId, figure, dataset, group?.rows ?? [], uniqueMissing, groupError);
  });
}

function drawFigure(
  sweepId: string,
  figure: string,
  dataset: string,
  rows: ResultRow[],
  missing: FigureView["missing"],
  groupError: string | null,
): FigureView {
  const name = isFigureId(figure) ? FIGURES[figure].name : figure;
  const view: FigureView = {
    figure,
    name,
    dataset,
    sweepId,
    spec: null,
    svg: null,
    error: null,
    series: [],
    missing,
  };
  if (!isFigureId(figure)) return { ...view, error: `"${figure}" is not a paper figure` };
  if (rows.length === 0) {
    return { ...view, error: groupError ?? "no results stored yet" };
  }
  try {
    return {
      ...view,
      spec: figureSpec(figure, rows, { dataset, width: 380, height: 240 }),
      series: seriesOrder(rows),
    };
  } catch (error) {
    if (error instanceof FigureError) return { ...view, error: error.message };
    throw error;
  }
}
