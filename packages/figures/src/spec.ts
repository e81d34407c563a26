/**
 * `figureSpec`: a paper figure as a Vega-Lite spec, built from its definition (./definitions.ts), the
 * result rows and the series styles (./style.ts). Pure and self-contained (the data travel inside the
 * spec as named datasets), so the CLI renders it to SVG/PNG and the dashboard embeds the very same object.
 */
import type { ResultRow } from "@unlearn/protocol";
import type { TopLevelSpec } from "vega-lite";
import type { Field } from "vega-lite/types_unstable/channeldef.js";
import type { LayerSpec, UnitSpec } from "vega-lite/types_unstable/spec/index.js";
import {
  FigureError,
  type FigurePoint,
  type FigureReference,
  panelData,
  selectRows,
  subtitle,
} from "./data.ts";
import {
  FIGURE_IDS,
  FIGURES,
  type FigureDefinition,
  type FigureId,
  isFigureId,
  type PanelDefinition,
} from "./definitions.ts";
import { type SeriesStyles, seriesStyles } from "./style.ts";

export interface FigureOptions {
  /** Which dataset to draw when the rows hold several (otherwise an error names them). */
  dataset?: string;
  /** Size of each panel's plotting area in pixels (default 360 × 260). */
  width?: number;
  height?: number;
  /** Replaces the title "Figure 5: unlearning vs retraining"; the subtitle (dataset, σ, chains) stays. */
  title?: string;
}

type Layer = UnitSpec<Field> | LayerSpec<Field>;
type Encoding = NonNullable<UnitSpec<Field>["encoding"]>;

/** A series with more points than this is drawn as a line only (Figure 3b's 100 single D2D removals). */
const MAX_MARKED_POINTS = 25;
/** Ticks at the x values that were run, unless there are more of them than an axis can label. */
const MAX_RUN_TICKS = 12;
/** Distance between neighbouring series' error bars, as a share of the x axis (log or linear). */
const DODGE_SHARE = 0.014;

/** A point as drawn: `xPlot` is its position (x set apart per series for error bars), `marker` whether it gets a dot. */
type DrawnPoint = FigurePoint & { xPlot: number; marker: boolean };

/** What every layer of one figure shares: styles, legend, axes and sizes. */
interface Context {
  definition: FigureDefinition;
  styles: SeriesStyles;
  size: { width: number; height: number };
  /** the x values the rows ran, for the ticks */
  xValues: number[];
}

/** One colour and one dash per series, merged by Vega-Lite into one legend (same field, same title). */
function seriesEncodings(ctx: Context): Pick<Encoding, "color" | "strokeDash"> {
  const { domain, color, dash } = ctx.styles;
  // Symbols as opaque strokes (the bands' pale fills would otherwise set the legend's look).
  const legend = {
    title: ctx.definition.legendTitle,
    titleLimit: 360,
    labelLimit: 280,
    symbolType: "stroke",
    symbolStrokeWidth: 2.5,
    symbolOpacity: 1,
  };
  return {
    color: { field: "series", type: "nominal", scale: { domain, range: color }, legend },
    strokeDash: { field: "series", type: "nominal", scale: { domain, range: dash }, legend },
  };
}

/** Log axes end at the data, padded, instead of rounding out to whole decades (0.05…5, not 0.01…10). */
function scaleOf(log: boolean, zero: boolean, padding = 12) {
  return log ? { type: "log" as const, nice: false, padding } : { zero };
}

function xEncoding(ctx: Context): Encoding["x"] {
  const { x } = ctx.definition;
  const runTicks = ctx.xValues.length <= MAX_RUN_TICKS;
  return {
    field: "xPlot",
    type: "quantitative",
    title: x.title,
    // "K=…" labels are centred on the first and last points: leave them room inside the plot.
    scale: scaleOf(x.log, true, ctx.definition.annotateK ? 30 : 12),
    // Ticks and grid lines at the values the sweep ran (S = 50, 500 included), not at round numbers.
    axis: runTicks ? { values: ctx.xValues, format: "~r", labelFlush: false } : { format: "~r" },
  };
}

/** Room above the highest error bar for its "K=…" label (raised by STEP_LABEL_DY), inside the plot. */
const STEP_LABEL_HEADROOM = 16;
/**
 * How far a "K=…" label sits above its error bar. Figure 3c's first σ has its ε0 triangle right above the
 * bar: at -4 the label ran into it, at -12 it clears it.
 */
const STEP_LABEL_DY = -12;

function yEncoding(ctx: Context, panel: PanelDefinition, field: string, axis: object = {}): Encoding["y"] {
  // Accuracy curves sit far from 0 (the paper's axes start near the lowest curve); counts start at 0.
  const scale = scaleOf(panel.log, panel.y !== "accuracy");
  const labelled = panel.y === "accuracy" && ctx.definition.annotateK;
  return {
    field,
    type: "quantitative",
    title: panel.title,
    scale: labelled ? { ...scale, padding: STEP_LABEL_HEADROOM } : scale,
    axis: { format: panel.log ? "~r" : undefined, ...axis },
  };
}

/** What a hovered item lists: the true x (not the dodged xPlot), and K only on layers whose rows have one. */
function tooltip(
  ctx: Context,
  panel: PanelDefinition,
  show: { x: boolean; K: boolean },
): Encoding["tooltip"] {
  return [
    { field: "series", type: "nominal" },
    ...(show.x ? [{ field: "x", type: "quantitative" as const, title: ctx.definition.x.title }] : []),
    { field: "y", type: "quantitative", title: panel.title, format: ".4~g" },
    ...(panel.y === "accuracy" ? [{ field: "std", type: "quantitative" as const, format: ".4~g" }] : []),
    ...(show.K ? [{ field: "K", type: "quantitative" as const }] : []),
    { field: "chains", type: "quantitative" },
    { field: "job", type: "nominal" },
  ];
}

/**
 * `layer` with its tooltip. Accuracy points of rows without K (retraining, noiseless training, D2D) sit
 * in the same dataset as unlearning points with K, and Vega-Lite formats a missing number as "NaN": the
 * layer is drawn twice, once per kind of row, and only the copy with K lists it.
 */
function withTooltips(ctx: Context, panel: PanelDefinition, layer: UnitSpec<Field>): UnitSpec<Field>[] {
  const tip = (K: boolean) => ({ ...layer.encoding, tooltip: tooltip(ctx, panel, { x: true, K }) });
  if (panel.y !== "accuracy") return [{ ...layer, encoding: tip(false) }];
  const only = (filter: string, K: boolean): UnitSpec<Field> => ({
    ...layer,
    transform: [...(layer.transform ?? []), { filter }],
    encoding: tip(K),
  });
  return [only("isValid(datum.K)", true), only("!isValid(datum.K)", false)];
}

/** Line and dots of each series; dots only where a series has few enough points to tell them apart. */
function curveLayers(ctx: Context, panel: PanelDefinition, data: string, axis?: object): Layer[] {
  const x = xEncoding(ctx);
  const y = yEncoding(ctx, panel, "y", axis);
  const series = seriesEncodings(ctx);
  return [
    { data: { name: data }, mark: { type: "line", strokeWidth: 2 }, encoding: { x, y, ...series } },
    ...withTooltips(ctx, panel, {
      data: { name: data },
      transform: [{ filter: "datum.marker" }],
      mark: { type: "point", filled: true, size: 36, opacity: 1 },
      encoding: { x, y, color: series.color },
    }),
  ];
}

/**
 * The ±std spread under the curves: light bands, or error bars at the (set apart) points. Error bars get
 * the points' tooltips (Vega-Lite's own would show the dodged x).
 */
function spreadLayers(ctx: Context, panel: PanelDefinition, data: string, axis?: object): Layer[] {
  const x = xEncoding(ctx);
  const y = yEncoding(ctx, panel, "lower", axis);
  const { color } = seriesEncodings(ctx);
  if (ctx.definition.spread === "band") {
    return [
      {
        data: { name: data },
        mark: { type: "area", opacity: 0.1 },
        encoding: { x, y, y2: { field: "upper" }, color },
      },
    ];
  }
  return withTooltips(ctx, panel, {
    data: { name: data },
    mark: { type: "errorbar", ticks: true, thickness: 1.5 },
    encoding: { x, y, y2: { field: "upper" }, color },
  });
}

/** Rows without an x value hold at every x: a horizontal line across the panel, with a light band. */
function referenceLayers(ctx: Context, panel: PanelDefinition, data: string): Layer[] {
  const { color, strokeDash } = seriesEncodings(ctx);
  return [
    {
      data: { name: data },
      mark: { type: "rect", opacity: 0.1 },
      encoding: { y: yEncoding(ctx, panel, "lower"), y2: { field: "upper" }, color },
    },
    {
      data: { name: data },
      mark: { type: "rule", strokeWidth: 2 },
      // References are accuracy rows without x and without K (e.g. noiseless training).
      encoding: {
        y: yEncoding(ctx, panel, "y"),
        color,
        strokeDash,
        tooltip: tooltip(ctx, panel, { x: false, K: false }),
      },
    },
  ];
}

/** "K=…" above each unlearning point's error bar (the paper's Figure 3c says how many steps each σ needed). */
function stepLabels(ctx: Context, panel: PanelDefinition, data: string, axis?: object): Layer {
  return {
    data: { name: data },
    transform: [{ filter: "isValid(datum.K)" }, { calculate: "'K=' + datum.K", as: "label" }],
    mark: { type: "text", align: "center", baseline: "bottom", dy: STEP_LABEL_DY, fontSize: 11 },
    encoding: {
      x: xEncoding(ctx),
      y: yEncoding(ctx, panel, "upper", axis),
      text: { field: "label" },
      color: seriesEncodings(ctx).color,
    },
  };
}

/** ε0 per σ: one black dashed curve with triangles (as the paper), in the legend as "ε0". */
function epsilon0Layers(ctx: Context, panel: PanelDefinition, data: string): Layer[] {
  const x = xEncoding(ctx);
  const y = yEncoding(ctx, panel, "y");
  const series = seriesEncodings(ctx);
  return [
    { data: { name: data }, mark: { type: "line", strokeWidth: 2 }, encoding: { x, y, ...series } },
    {
      data: { name: data },
      mark: { type: "point", shape: "triangle-up", filled: true, size: 60, opacity: 1 },
      encoding: { x, y, color: series.color, tooltip: tooltip(ctx, panel, { x: true, K: false }) },
    },
  ];
}

interface PanelNames {
  points: string;
  references: string | null;
}

/** Every layer one panel draws (`axis`: extra y-axis properties, e.g. the right side of a twin plot). */
function panelLayers(ctx: Context, panel: PanelDefinition, names: PanelNames, axis?: object): Layer[] {
  if (panel.y === "epsilon0") return epsilon0Layers(ctx, panel, names.points);
  if (panel.y !== "accuracy") return curveLayers(ctx, panel, names.points, axis);
  // Every layer on this panel's y scale gets the same axis side: the shared axis takes it from any of them.
  const layers = [
    ...spreadLayers(ctx, panel, names.points, axis),
    ...curveLayers(ctx, panel, names.points, axis),
  ];
  if (names.references) layers.push(...referenceLayers(ctx, panel, names.references));
  if (ctx.definition.annotateK) layers.push(stepLabels(ctx, panel, names.points, axis));
  return layers;
}

/**
 * Positions along x: each series' points moved by a small, fixed share of the axis (multiplicative on a
 * log axis) when the panel draws error bars, so that bars of series with nearly equal means sit side by
 * side instead of on top of each other. Tooltips keep the true x.
 */
function drawnPoints(ctx: Context, panel: PanelDefinition, points: readonly FigurePoint[]): DrawnPoint[] {
  const count = new Map<string, number>();
  for (const p of points) count.set(p.series, (count.get(p.series) ?? 0) + 1);
  const present = ctx.styles.domain.filter((s) => count.has(s));
  const dodge = panel.y === "accuracy" && ctx.definition.spread === "bars" && present.length > 1;
  const xs = points.map((p) => p.x);
  const [lo, hi] = [Math.min(...xs), Math.max(...xs)];
  const log = ctx.definition.x.log;
  const width = log ? Math.log(hi / lo) || 1 : hi - lo || 1;
  return points.map((point) => {
    const marker = (count.get(point.series) ?? 0) <= MAX_MARKED_POINTS;
    if (!dodge) return { ...point, xPlot: point.x, marker };
    const shift = (present.indexOf(point.series) - (present.length - 1) / 2) * DODGE_SHARE * width;
    return { ...point, xPlot: log ? point.x * Math.exp(shift) : point.x + shift, marker };
  });
}

/** The figure's panels: their datasets (filled in) and their layers. */
function buildPanels(ctx: Context, rows: readonly ResultRow[], datasets: Record<string, object[]>) {
  return ctx.definition.panels.map((panel, i) => {
    const data = panelData(ctx.definition, panel.y, rows);
    const names: PanelNames = {
      points: `panel${i + 1}`,
      references: data.references.length ? `panel${i + 1}-ref` : null,
    };
    datasets[names.points] = drawnPoints(ctx, panel, data.points);
    if (names.references) datasets[names.references] = data.references as FigureReference[];
    return { panel, names };
  });
}

function xValuesOf(definition: FigureDefinition, rows: readonly ResultRow[]): number[] {
  const values = rows.flatMap((row) => {
    const value = row[definition.x.field];
    return value === null ? [] : [value];
  });
  return [...new Set(values)].sort((a, b) => a - b);
}

/**
 * The Vega-Lite spec of `figure` drawn from `rows` (rows of other figures are ignored): one line per
 * series (unlearning solid, retraining dashed, see ./style.ts), mean ± std as light bands or error bars,
 * log axes and ticks at the values run, one legend with a title, and a title naming the dataset, σ and the
 * number of chains. Throws FigureError when the rows cannot make the figure.
 */
export function figureSpec(
  figure: FigureId,
  rows: readonly ResultRow[],
  options: FigureOptions = {},
): TopLevelSpec {
  if (!isFigureId(figure)) {
    throw new FigureError(`unknown figure "${figure}" (known: ${FIGURE_IDS.join(", ")})`);
  }
  const definition = FIGURES[figure];
  const selected = selectRows(figure, rows, options.dataset);
  const ctx: Context = {
    definition,
    styles: seriesStyles(selected, { epsilon0: definition.panels.some((p) => p.y === "epsilon0") }),
    size: { width: options.width ?? 360, height: options.height ?? 260 },
    xValues: xValuesOf(definition, selected),
  };
  const datasets: Record<string, object[]> = {};
  const panels = buildPanels(ctx, selected, datasets);
  const top = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: options.title ?? `${definition.name}: ${definition.caption}`,
      subtitle: subtitle(definition, selected),
      anchor: "start" as const,
    },
    datasets,
    background: "white",
    padding: 12,
  };
  if (definition.layout === "twin") {
    // One plot, a y axis per side (the paper's Figure 3c): each panel's layers on its own y scale.
    const layer = panels.map(({ panel, names }) => {
      const axis = panel.axis === "right" ? { orient: "right", grid: false } : undefined;
      return { layer: panelLayers(ctx, panel, names, axis) };
    });
    return { ...top, ...ctx.size, layer, resolve: { scale: { y: "independent" } } } as TopLevelSpec;
  }
  const units = panels.map(({ panel, names }) => ({ ...ctx.size, layer: panelLayers(ctx, panel, names) }));
  if (units.length === 1) return { ...top, ...units[0] } as TopLevelSpec;
  return {
    ...top,
    hconcat: units,
    spacing: 40,
    resolve: { scale: { color: "shared", strokeDash: "shared" } },
  } as TopLevelSpec;
}
