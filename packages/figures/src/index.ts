/**
 * @unlearn/figures: every paper figure as one Vega-Lite definition (`figureSpec`, pure, embedded as is by
 * the dashboard) and its headless rendering to SVG and PNG for the CLI (`renderFigure`).
 */
export {
  FigureError,
  type FigurePoint,
  type FigureReference,
  type FigureRows,
  figureGroups,
  formatNumber,
  panelData,
  seriesOrder,
} from "./data.ts";
export {
  FIGURE_IDS,
  FIGURES,
  type FigureDefinition,
  type FigureId,
  isFigureId,
  type PanelDefinition,
  type PanelY,
  type Spread,
  type XField,
} from "./definitions.ts";
export {
  compileSpec,
  type FigureFormat,
  type PngOptions,
  type RenderedFiles,
  type RenderOptions,
  rasterize,
  renderFigure,
  renderSvg,
  svgToPng,
} from "./render.ts";
export { type FigureOptions, figureSpec } from "./spec.ts";
export { type SeriesRole, type SeriesStyles, seriesRole, seriesStyles } from "./style.ts";
