/**
 * From result rows to the points a figure draws: picks the figure's rows, checks every value the figure
 * needs (naming the row and the field when one is missing or unusable), and derives what the rows do not
 * hold directly (accumulated K, ε0 per σ, the subtitle). Pure functions: the dashboard calls them too.
 */
import type { ResultRow } from "@unlearn/protocol";
import { FIGURE_IDS, type FigureDefinition, type FigureId, isFigureId, type PanelY } from "./definitions.ts";

/** A figure cannot be drawn from the rows given; the message names the figure, row and field. */
export class FigureError extends Error {
  override name = "FigureError";
}

/** One point of one series in one panel (the shape of the Vega-Lite datasets). */
export interface FigurePoint {
  series: string;
  kind: string;
  x: number;
  y: number;
  /** mean − std and mean + std: the band of accuracy panels (absent elsewhere) */
  lower?: number;
  upper?: number;
  std?: number;
  /** the row's unlearning steps, on accuracy points of rows that have them (Figure 3c writes "K=…") */
  K?: number;
  chains: number;
  job: string;
}

/** A row with no x value (ε = null: it does not depend on ε), drawn as a horizontal line with its band. */
export type FigureReference = Omit<FigurePoint, "x">;

export interface PanelData {
  points: FigurePoint[];
  references: FigureReference[];
}

/** The rows of one figure for one dataset: what `figureSpec` draws. */
export interface FigureRows {
  figure: FigureId;
  dataset: string;
  rows: ResultRow[];
}

function describe(row: ResultRow): string {
  return `row of job ${row.job.slice(0, 12)} (series "${row.series}")`;
}

/** Legend order: natural sort, so "S=1", "S=50", "S=100" come in numeric order whatever the row order. */
export function seriesOrder(rows: readonly ResultRow[]): string[] {
  return [...new Set(rows.map((row) => row.series))].sort((a, b) =>
    a.localeCompare(b, "en", { numeric: true }),
  );
}

/**
 * Splits a sweep's rows into the figures they draw, one per (figure, dataset), in a stable order.
 * Rows with an empty figure are jobs the figure depends on but does not draw (the planner's
 * dependencies, e.g. learning on D before unlearning) and are left out. Every other row must name a
 * paper figure.
 */
export function figureGroups(rows: readonly ResultRow[]): FigureRows[] {
  const groups = new Map<string, FigureRows>();
  for (const row of rows) {
    if (row.figure === "") continue;
    if (!isFigureId(row.figure)) {
      throw new FigureError(
        `${describe(row)} belongs to figure "${row.figure}", which is not a paper figure (known: ${FIGURE_IDS.join(", ")})`,
      );
    }
    const key = `${row.figure}\u0000${row.dataset}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { figure: row.figure, dataset: row.dataset, rows: [] }));
    group.rows.push(row);
  }
  return [...groups.values()].sort(
    (a, b) =>
      FIGURE_IDS.indexOf(a.figure) - FIGURE_IDS.indexOf(b.figure) || a.dataset.localeCompare(b.dataset),
  );
}

/** The rows of `figure` (for `dataset`, required when the rows hold several datasets). */
export function selectRows(figure: FigureId, rows: readonly ResultRow[], dataset?: string): ResultRow[] {
  const mine = rows.filter((row) => row.figure === figure);
  if (mine.length === 0) {
    const present = [...new Set(rows.map((row) => row.figure || "(dependencies)"))];
    throw new FigureError(
      rows.length === 0
        ? `no result rows to draw ${figure}`
        : `none of the ${rows.length} rows belongs to ${figure} (their figures: ${present.join(", ")})`,
    );
  }
  const datasets = [...new Set(mine.map((row) => row.dataset))].sort();
  if (dataset === undefined) {
    if (datasets.length > 1) {
      throw new FigureError(
        `${figure} has rows for several datasets (${datasets.join(", ")}): choose one with the dataset option`,
      );
    }
    return mine;
  }
  const chosen = mine.filter((row) => row.dataset === dataset);
  if (chosen.length === 0) {
    throw new FigureError(`${figure} has no rows for dataset "${dataset}" (it has: ${datasets.join(", ")})`);
  }
  return chosen;
}

function finite(row: ResultRow, field: string, value: number | null, positive: boolean): number {
  if (value === null || !Number.isFinite(value)) {
    throw new FigureError(`${describe(row)} has ${field} = ${value}: the figure needs a finite number`);
  }
  if (positive && value <= 0) {
    throw new FigureError(`${describe(row)} has ${field} = ${value}, which a logarithmic axis cannot show`);
  }
  return value;
}

function accuracyOf(row: ResultRow): Pick<FigurePoint, "y" | "lower" | "upper" | "std"> {
  const mean = finite(row, "accuracyMean", row.accuracyMean, false);
  const std = finite(row, "accuracyStd", row.accuracyStd, false);
  if (mean < 0 || mean > 1)
    throw new FigureError(`${describe(row)} has accuracyMean = ${mean}, not in [0, 1]`);
  if (std < 0) throw new FigureError(`${describe(row)} has accuracyStd = ${std}, which is negative`);
  return { y: mean, lower: mean - std, upper: mean + std, std };
}

function stepsOf(row: ResultRow): number {
  const K = finite(row, "K", row.K, false);
  if (!Number.isInteger(K) || K < 0)
    throw new FigureError(`${describe(row)} has K = ${K}, not a count of steps`);
  return K;
}

/** Two rows of one series at one x would draw a zigzag: a planner bug or mixed sweeps, never a figure. */
function rejectDuplicates(figure: FigureId, points: readonly FigurePoint[], xTitle: string): void {
  const seen = new Map<string, FigurePoint>();
  for (const point of points) {
    const key = `${point.series}\u0000${point.x}`;
    const before = seen.get(key);
    if (before) {
      throw new FigureError(
        `${figure}: series "${point.series}" has two rows at ${xTitle} = ${point.x} (jobs ${before.job.slice(0, 12)} and ${point.job.slice(0, 12)})`,
      );
    }
    seen.set(key, point);
  }
}

/**
 * Running sum of K over each series' batches, in batch order (Figure 3b's left panel). Batch 0 is the
 * model learned on D that the series starts from (K = 0, no point removed yet).
 */
function accumulatedSteps(figure: FigureId, rows: readonly ResultRow[], xOf: (row: ResultRow) => number) {
  const bySeries = new Map<string, ResultRow[]>();
  for (const row of rows) {
    if (row.batch === null || !Number.isInteger(row.batch) || row.batch < 0) {
      throw new FigureError(
        `${describe(row)} has batch = ${row.batch}: ${figure} needs the batch number 0, 1, 2, …`,
      );
    }
    const list = bySeries.get(row.series) ?? [];
    list.push(row);
    bySeries.set(row.series, list);
  }
  const points: FigurePoint[] = [];
  for (const [series, list] of bySeries) {
    list.sort((a, b) => a.batch! - b.batch!);
    let total = 0;
    list.forEach((row, i) => {
      if (i > 0 && list[i - 1].batch === row.batch) {
        throw new FigureError(`${figure}: series "${series}" has two rows for batch ${row.batch}`);
      }
      total += stepsOf(row);
      points.push({ series, kind: row.kind, x: xOf(row), y: total, chains: row.chains, job: row.job });
    });
  }
  return points;
}

/** ε0 depends on σ and S only: one value per x, whichever rows carry it, and they must agree. */
function epsilon0Points(figure: FigureId, rows: readonly ResultRow[], xOf: (row: ResultRow) => number) {
  const byX = new Map<number, FigurePoint>();
  for (const row of rows) {
    if (row.epsilon0 === null) continue;
    const value = finite(row, "epsilon0", row.epsilon0, true);
    const x = xOf(row);
    const before = byX.get(x);
    if (before && Math.abs(before.y - value) > 1e-9 * Math.max(before.y, value)) {
      throw new FigureError(
        `${figure}: rows at x = ${x} disagree on epsilon0 (${before.y} in job ${before.job.slice(0, 12)}, ${value} in ${describe(row)})`,
      );
    }
    // Of the agreeing rows, the one with the smallest job id speaks for the point, whatever the row order.
    if (!before || row.job < before.job) {
      byX.set(x, { series: "ε0", kind: row.kind, x, y: value, chains: row.chains, job: row.job });
    }
  }
  if (byX.size === 0)
    throw new FigureError(`${figure}: no row carries epsilon0, which its first panel draws`);
  return [...byX.values()].sort((a, b) => a.x - b.x);
}

/** Points in a fixed order, so that the same rows in any order make the same spec. */
function bySeriesThenX(a: FigurePoint, b: FigurePoint): number {
  return a.series.localeCompare(b.series) || a.x - b.x;
}

/** The points (and x-less references) that one panel of `definition` draws from the figure's rows. */
export function panelData(definition: FigureDefinition, y: PanelY, rows: readonly ResultRow[]): PanelData {
  const { id, x } = definition;
  const xOf = (row: ResultRow) => finite(row, x.field, row[x.field], x.log);
  const kLog = definition.panels.some((panel) => panel.y === "K" && panel.log);
  if (y === "epsilon0") return { points: epsilon0Points(id, rows, xOf), references: [] };
  if (y === "accumulatedK") {
    const points = accumulatedSteps(id, rows, xOf);
    rejectDuplicates(id, points, x.field);
    return { points: points.sort(bySeriesThenX), references: [] };
  }
  const points: FigurePoint[] = [];
  const references: FigureReference[] = [];
  for (const row of rows) {
    const base = { series: row.series, kind: row.kind, chains: row.chains, job: row.job };
    if (y === "K") {
      const K = stepsOf(row);
      if (kLog && K === 0) finite(row, "K", K, true); // throws: a log axis cannot show K = 0
      points.push({ ...base, x: xOf(row), y: K });
    } else if (row[x.field] === null) {
      // Only ε is nullable: a row that does not depend on ε (e.g. noiseless training) is the same at every ε.
      if (references.some((ref) => ref.series === row.series)) {
        throw new FigureError(`${id}: series "${row.series}" has two rows without ${x.field}`);
      }
      references.push({ ...base, ...accuracyOf(row) });
    } else {
      const steps = row.K === null ? {} : { K: stepsOf(row) };
      points.push({ ...base, x: xOf(row), ...accuracyOf(row), ...steps });
    }
  }
  rejectDuplicates(id, points, x.field);
  references.sort((a, b) => a.series.localeCompare(b.series));
  return { points: points.sort(bySeriesThenX), references };
}

/** Four significant digits, without trailing zeros: 0.0095594 → "0.009559", 100 → "100". */
export function formatNumber(value: number): string {
  return String(Number(value.toPrecision(4)));
}

function unique(values: readonly number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/**
 * The subtitle: dataset, σ, and the other settings that are the same for every row and not on the x axis,
 * the smoothness when the figure writes K (Figure 3c), then the number of chains. σ is read from the noisy Langevin rows (σ > 0): noiseless (σ = 0) and D2D
 * rows are named by their series, and their σ field is not the figure's σ.
 */
export function subtitle(definition: FigureDefinition, rows: readonly ResultRow[]): string {
  const parts = [[...new Set(rows.map((row) => row.dataset))].join(", ")];
  const xField = definition.x.field;
  if (xField !== "sigma") {
    const sigmas = unique(
      rows
        .filter((row) => ["learn", "unlearn", "retrain"].includes(row.kind) && row.sigma > 0)
        .map((r) => r.sigma),
    );
    if (sigmas.length === 1) parts.push(`σ = ${formatNumber(sigmas[0])}`);
    else if (definition.sigmaNote) parts.push(definition.sigmaNote);
    else if (sigmas.length > 1) parts.push(`σ = ${sigmas.map(formatNumber).join(", ")}`);
  }
  if (xField !== "epsilon") {
    const epsilons = unique(rows.flatMap((row) => (row.epsilon === null ? [] : [row.epsilon])));
    if (epsilons.length === 1) parts.push(`ε = ${formatNumber(epsilons[0])}`);
  }
  if (xField !== "removals") {
    // Training on D removes nothing: S is read from the rows that remove points.
    const removals = unique(
      rows.filter((row) => row.kind !== "learn" && row.kind !== "d2d-learn").map((row) => row.removals),
    );
    if (removals.length === 1) parts.push(`S = ${removals[0]}`);
  }
  if (definition.annotateK) {
    // The K written on the figure depends on L (η = 1/L): the paper's Figure 3c shows K for both.
    const smoothness = [...new Set(rows.flatMap((row) => (row.smoothness ? [row.smoothness] : [])))].sort();
    if (smoothness.length > 0)
      parts.push(smoothness.map((s) => (s === "data" ? "L_data" : "L = 1/4 + λn")).join(", "));
  }
  const chains = unique(rows.map((row) => row.chains));
  parts.push(
    chains.length === 1 ? `${chains[0]} chains` : `${chains[0]}–${chains[chains.length - 1]} chains`,
  );
  return parts.join(" · ");
}
