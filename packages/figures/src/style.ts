/**
 * How each series looks, the same way in every figure, so that a reader learns it once:
 * - line style by what the series is: unlearning solid, retraining dashed (as the paper draws it),
 *   learning on D dotted, Descent-to-Delete dash-dot;
 * - colour by what is compared: a retraining series takes the colour of the unlearning series it is the
 *   reference for ("retraining k=2" beside "unlearning k=2", Figure 3a); a retraining series that is
 *   the reference for several unlearning series (Figure 5: one retraining per S for every ε) is neutral
 *   dark grey; plain "unlearning" / "retraining" (Figure 3c, one of each) get colours of their own;
 * - legend order: unlearning, retraining, learning, D2D, each in natural order (ε=0.5 before ε=2).
 * Pure: the spec puts the resulting scales inline, so the dashboard shows the same styles.
 */
import type { ResultRow } from "@unlearn/protocol";

export type SeriesRole = "unlearn" | "retrain" | "learn" | "d2d";

/** The order roles take in the legend. */
const ROLE_ORDER: readonly SeriesRole[] = ["unlearn", "retrain", "learn", "d2d"];

/** Vega stroke dash arrays: [1, 0] is a solid line. */
export const DASHES: Record<SeriesRole, number[]> = {
  unlearn: [1, 0],
  retrain: [7, 4],
  learn: [2, 3],
  d2d: [9, 3, 2, 3],
};

/** Vega's tableau10 hues, the pale yellow darkened and moved last: distinct and readable on white. */
const PALETTE = [
  "#4c78a8",
  "#f58518",
  "#e45756",
  "#54a24b",
  "#b279a2",
  "#72b7b2",
  "#9d755d",
  "#ff9da6",
  "#d6a300",
  "#17becf",
  "#bcbd22",
  "#7f7f7f",
];
/** Retraining drawn as the one reference for several unlearning series. */
export const NEUTRAL = "#555555";
/** The ε0 curve of Figure 3c (a property of σ, not a method). */
export const EPSILON0_SERIES = "ε0";
export const EPSILON0_COLOR = "#222222";

export interface SeriesStyles {
  /** the legend's series, in legend order */
  domain: string[];
  color: string[];
  dash: number[][];
  role: Record<string, SeriesRole>;
}

/** A series' role, from its rows' kinds: Figure 3b's series start with a learn row (batch 0), then unlearn. */
export function seriesRole(kinds: ReadonlySet<string>): SeriesRole {
  if (kinds.has("retrain")) return "retrain";
  if (kinds.has("unlearn")) return "unlearn";
  if (kinds.has("d2d-unlearn") || kinds.has("d2d-learn")) return "d2d";
  return "learn";
}

/** "unlearning ε=1" and "retraining ε=1" compare the same thing: both have the key "ε=1". */
function comparisonKey(series: string): string {
  return series.replace(/^(unlearning|retraining)\b\s*/, "");
}

const natural = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true });

/** Legend order, colours and dashes of the series of `rows` (plus ε0 when the figure draws it). */
export function seriesStyles(rows: readonly ResultRow[], options: { epsilon0?: boolean } = {}): SeriesStyles {
  const kinds = new Map<string, Set<string>>();
  for (const row of rows) {
    const set = kinds.get(row.series) ?? new Set<string>();
    set.add(row.kind);
    kinds.set(row.series, set);
  }
  const role: Record<string, SeriesRole> = {};
  for (const [series, set] of kinds) role[series] = seriesRole(set);
  const domain = [...kinds.keys()].sort(
    (a, b) => ROLE_ORDER.indexOf(role[a]) - ROLE_ORDER.indexOf(role[b]) || natural(a, b),
  );
  const unlearnKeys = new Set(domain.filter((s) => role[s] === "unlearn").map(comparisonKey));
  const colorOfKey = new Map<string, string>();
  const color = domain.map((series) => {
    const key = comparisonKey(series);
    const compared = (role[series] === "retrain" || role[series] === "unlearn") && key !== "";
    if (compared && role[series] === "retrain" && !unlearnKeys.has(key)) return NEUTRAL;
    if (role[series] === "retrain" && key === "" && unlearnKeys.size > 1) return NEUTRAL;
    // Series that are not a comparison (D2D I=1, noiseless, plain "unlearning") get their own colour.
    const slot = compared ? `cmp:${key}` : `own:${series}`;
    if (!colorOfKey.has(slot)) colorOfKey.set(slot, PALETTE[colorOfKey.size % PALETTE.length]);
    return colorOfKey.get(slot)!;
  });
  const dash = domain.map((series) => DASHES[role[series]]);
  if (options.epsilon0) {
    domain.push(EPSILON0_SERIES);
    color.push(EPSILON0_COLOR);
    dash.push([4, 2]);
  }
  return { domain, color, dash, role };
}
