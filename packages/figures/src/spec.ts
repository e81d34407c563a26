/**
 * `figureSpec`: a paper figure as a Vega-Lite spec, built from its definition (./definitions.ts) and the
 * result rows. Pure and self-contained (the data travel inside the spec as named datasets), so the CLI
 * renders it to SVG/PNG and the dashboard embeds the very same object.
 */
import type { ResultRow } from "@unlearn/protocol";
import type { TopLevelSpec } from "vega-lite";
import type { Field } from "vega-lite/types_unstable/channeldef.js";
import type { LayerSpec, UnitSpec } from "vega-lite/types_unstable/spec/index.js";
import { FigureError, panelData, selectRows, seriesOrder, subtitle } from "./data.ts";
import {
  FIGURE_IDS,
  FIGURES,
  type FigureDefinition,
  type FigureId,
  isFigureId,
  type PanelDefinition,
} from "./definitions.ts";

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

/** One colour per series, the same in every panel; tableau20 once tableau10 would repeat colours. */
function colorEncoding(series: readonly string[]): Encoding["color"] {
  return {
    field: "series",
    type: "nominal",
    scale: { domain: [...series], scheme: series.length > 10 ? "tableau20" : "tableau10" },
    // Line strokes as symbols (as the paper's legends), not the bands' pale fills.
    legend: {
      title: "series",
      labelLimit: 260,
      symbolType: "stroke",
      symbolStrokeWidth: 3,
      symbolOpacity: 1,
    },
  };
}

/** Log axes end at the data, padded, instead of rounding out to whole decades (0.05…5, not 0.01…10). */
function scaleOf(log: boolean, zero: boolean) {
  return log ? { type: "log" as const, nice: false, padding: 12 } : { zero };
}

function panelSpec(
  definition: FigureDefinition,
  panel: PanelDefinition,
  names: { points: string; references: string | null },
  series: readonly string[],
  size: { width: number; height: number },
): Layer {
  const x: Encoding["x"] = {
    field: "x",
    type: "quantitative",
    title: definition.x.title,
    scale: scaleOf(definition.x.log, true),
  };
  // Accuracy curves sit far from 0 (the paper's axes start near the lowest curve); counts start at 0.
  const yScale = scaleOf(panel.log, panel.y !== "accuracy");
  const y = (field: string): Encoding["y"] => ({
    field,
    type: "quantitative",
    title: panel.title,
    scale: yScale,
  });
  const tooltip: Encoding["tooltip"] = [
    { field: "series", type: "nominal" },
    { field: "x", type: "quantitative", title: definition.x.title },
    { field: "y", type: "quantitative", title: panel.title, format: ".4~g" },
    ...(panel.y === "accuracy" ? [{ field: "std", type: "quantitative" as const, format: ".4~g" }] : []),
    { field: "chains", type: "quantitative" },
    { field: "job", type: "nominal" },
  ];
  const points = { name: names.points };

  if (panel.y === "epsilon0") {
    // ε0 is a property of σ, not of a series: one line, no legend entry.
    return {
      ...size,
      data: points,
      mark: { type: "line", point: { size: 30, color: "#4c4c4c" }, color: "#4c4c4c" },
      encoding: { x, y: y("y"), tooltip },
    };
  }
  const color = colorEncoding(series);
  const line: Layer = {
    data: points,
    mark: { type: "line", point: { size: 30 } },
    encoding: { x, y: y("y"), color, tooltip },
  };
  if (panel.y !== "accuracy") return { ...size, ...line };

  const layer: Layer[] = [
    {
      data: points,
      mark: { type: "errorband" },
      encoding: { x, y: y("lower"), y2: { field: "upper" }, color },
    },
    line,
  ];
  if (names.references) {
    // Rows without an x value hold at every x: a dashed horizontal line across the panel with its band.
    const data = { name: names.references };
    layer.push(
      {
        data,
        mark: { type: "rect", opacity: 0.15 },
        encoding: { y: y("lower"), y2: { field: "upper" }, color },
      },
      {
        data,
        mark: { type: "rule", strokeDash: [6, 4], strokeWidth: 2 },
        encoding: { y: y("y"), color, tooltip: tooltip.filter((t) => "field" in t && t.field !== "x") },
      },
    );
  }
  return { ...size, layer };
}

/**
 * The Vega-Lite spec of `figure` drawn from `rows` (rows of other figures are ignored): one line per
 * series, mean ± std bands on accuracy, log axes where the paper has them, a shared legend, and a title
 * naming the dataset, σ and the number of chains. Throws FigureError when the rows cannot make the figure.
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
  const series = seriesOrder(selected);
  const size = { width: options.width ?? 360, height: options.height ?? 260 };
  const datasets: Record<string, object[]> = {};
  const panels = definition.panels.map((panel, i) => {
    const data = panelData(definition, panel.y, selected);
    const names = {
      points: `panel${i + 1}`,
      references: data.references.length ? `panel${i + 1}-ref` : null,
    };
    datasets[names.points] = data.points;
    if (names.references) datasets[names.references] = data.references;
    return panelSpec(definition, panel, names, series, size);
  });
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
  if (panels.length === 1) return { ...top, ...panels[0] } as TopLevelSpec;
  return { ...top, hconcat: panels, spacing: 40, resolve: { scale: { color: "shared" } } };
}
