/**
 * One definition per paper figure (docs/science.md §6, docs/contracts.md "Figures and series"): which row field is
 * the x axis, which panels it has, and which axes are logarithmic. Everything else (series, bands,
 * legend, titles) is derived from the rows by ./spec.ts, identically for every figure, so the CLI's
 * SVG/PNG and the dashboard's interactive chart come from the same place.
 */

export const FIGURE_IDS = ["fig3a", "fig3b", "fig3c", "fig4", "fig5"] as const;
export type FigureId = (typeof FIGURE_IDS)[number];

export function isFigureId(value: string): value is FigureId {
  return (FIGURE_IDS as readonly string[]).includes(value);
}

/** The row field drawn on the x axis. `epsilon` is the only nullable one (rows that do not depend on ε). */
export type XField = "epsilon" | "sigma" | "removals";

/**
 * What a panel draws on its y axis:
 * - `accuracy`: test accuracy mean with a ±std band, one line per series;
 * - `K`: the row's K (unlearning steps), one line per series;
 * - `accumulatedK`: the running sum of K over a series' batches in batch order (sequential removal);
 * - `epsilon0`: the privacy loss before any unlearning step, one value per x (a property of σ, not of
 *   the series), drawn as a single line.
 */
export type PanelY = "accuracy" | "K" | "accumulatedK" | "epsilon0";

export interface PanelDefinition {
  y: PanelY;
  title: string;
  log: boolean;
  /**
   * Twin-axis figures (`layout: "twin"`) draw every panel in one plot: "left" panels on the left y axis,
   * "right" panels on the right one. Ignored by side-by-side figures.
   */
  axis?: "left" | "right";
}

/**
 * How the ±std spread of an accuracy panel is drawn:
 * - `band`: a light band under each line (dense x, e.g. 100 sequential removals);
 * - `bars`: an error bar per point, the series set slightly apart along x so that bars of series with
 *   nearly equal means do not cover each other (sparse x: the few S, ε or σ values a sweep ran).
 */
export type Spread = "band" | "bars";

export interface FigureDefinition {
  id: FigureId;
  /** "Figure 3a": the paper's own name, first part of the chart title. */
  name: string;
  /** what the figure shows, second part of the chart title */
  caption: string;
  x: { field: XField; title: string; log: boolean };
  panels: PanelDefinition[];
  /** `side-by-side`: one plot per panel (the default); `twin`: one plot, a y axis on each side. */
  layout?: "side-by-side" | "twin";
  /** Title of the legend: what tells the series apart. */
  legendTitle: string;
  /** How accuracy panels draw the ±std spread. */
  spread: Spread;
  /** Writes "K=…" beside each unlearning point of the accuracy panel (the paper's Figure 3c). */
  annotateK?: boolean;
  /** Shown in the subtitle when σ differs between rows and is not the x axis (Figure 3a's σ*(ε, k)). */
  sigmaNote?: string;
}

const ACCURACY = "test accuracy (mean ± std)";

export const FIGURES: Record<FigureId, FigureDefinition> = {
  fig3a: {
    id: "fig3a",
    name: "Figure 3a",
    caption: "accuracy vs privacy budget, one removal",
    x: { field: "epsilon", title: "privacy budget ε", log: true },
    panels: [{ y: "accuracy", title: ACCURACY, log: false }],
    legendTitle: "method (k, I: unlearning steps)",
    spread: "band",
    sigmaNote: "σ = σ*(ε, k)",
  },
  fig3b: {
    id: "fig3b",
    name: "Figure 3b",
    caption: "sequential unlearning",
    x: { field: "removals", title: "points removed", log: false },
    panels: [
      { y: "accumulatedK", title: "accumulated steps K (Langevin) / I (D2D)", log: false },
      { y: "accuracy", title: ACCURACY, log: false },
    ],
    legendTitle: "method (batch size S, D2D factor f)",
    spread: "band",
  },
  fig3c: {
    id: "fig3c",
    name: "Figure 3c",
    caption: "effect of the noise σ",
    x: { field: "sigma", title: "noise σ", log: true },
    // As the paper: ε0 (log, left axis) and accuracy (right axis) over one σ axis.
    layout: "twin",
    panels: [
      { y: "epsilon0", title: "initial privacy loss ε0 (log scale)", log: true, axis: "left" },
      { y: "accuracy", title: ACCURACY, log: false, axis: "right" },
    ],
    legendTitle: "curve",
    spread: "bars",
    annotateK: true,
  },
  fig4: {
    id: "fig4",
    name: "Figure 4",
    caption: "unlearning steps vs privacy budget",
    x: { field: "epsilon", title: "privacy budget ε", log: true },
    panels: [
      // K spans 1 (S = 1, ε ≥ 0.5) to ~21000 (S = 100, ε = 0.1): only a log axis shows every line.
      { y: "K", title: "unlearning steps K (log scale)", log: true },
      { y: "accuracy", title: "unlearned accuracy (mean ± std)", log: false },
    ],
    legendTitle: "points removed",
    spread: "bars",
  },
  fig5: {
    id: "fig5",
    name: "Figure 5",
    caption: "unlearning vs retraining",
    x: { field: "removals", title: "points removed S", log: true },
    panels: [{ y: "accuracy", title: ACCURACY, log: false }],
    legendTitle: "method, privacy budget",
    spread: "bars",
  },
};
