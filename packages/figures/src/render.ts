/**
 * Rendering a figure spec headless: Vega-Lite → Vega (`compileSpec`), Vega's SVG renderer
 * (`renderSvg`, no browser or canvas), and resvg for the PNG (`svgToPng`). resvg draws text only with
 * the fonts it finds, so the PNG path checks that the machine has some (a bare Debian image has none
 * until `apt-get install fonts-dejavu-core`).
 */
import { existsSync, readdirSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { Resvg, renderAsync } from "@resvg/resvg-js";
import type { ResultRow } from "@unlearn/protocol";
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { FigureError } from "./data.ts";
import type { FigureId } from "./definitions.ts";
import { type FigureOptions, figureSpec } from "./spec.ts";

/** Collects Vega / Vega-Lite messages instead of printing them, so callers decide what a warning means. */
function collectingLogger(messages: string[]) {
  let level = 2; // warn
  const logger = {
    level(next?: number) {
      if (next === undefined) return level;
      level = next;
      return logger;
    },
    error(...args: unknown[]) {
      messages.push(`error: ${args.join(" ")}`);
      return logger;
    },
    warn(...args: unknown[]) {
      messages.push(`warning: ${args.join(" ")}`);
      return logger;
    },
    info() {
      return logger;
    },
    debug() {
      return logger;
    },
  };
  return logger;
}

/** Compiles a Vega-Lite spec to Vega; `warnings` lists what Vega-Lite would otherwise print (empty is good). */
export function compileSpec(spec: TopLevelSpec) {
  const warnings: string[] = [];
  const { spec: vega } = compile(spec, { logger: collectingLogger(warnings) });
  return { vega, warnings };
}

/** The figure as a standalone SVG document (Vega's headless SVG renderer). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { vega } = compileSpec(spec);
  // Spec problems are compileSpec's to report (the tests hold every figure to zero warnings); runtime
  // chatter would only clutter a CLI's output.
  const view = new View(parse(vega), { renderer: "none", logger: collectingLogger([]) });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Directories resvg's system-font loader (fontdb) reads, per platform. */
function fontDirectories(): string[] {
  if (process.platform === "win32") return [join(process.env.WINDIR ?? "C:\\Windows", "Fonts")];
  if (process.platform === "darwin") {
    return ["/System/Library/Fonts", "/Library/Fonts", join(homedir(), "Library/Fonts")];
  }
  return [
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    join(homedir(), ".fonts"),
    join(homedir(), ".local/share/fonts"),
  ];
}

function containsFont(dir: string, depth: number): boolean {
  if (depth > 4 || !existsSync(dir)) return false;
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  return entries.some((entry) =>
    entry.isDirectory() || entry.isSymbolicLink()
      ? containsFont(join(dir, entry.name), depth + 1)
      : /\.(ttf|otf|ttc)$/i.test(entry.name),
  );
}

let fontsChecked = false;
/** Without any font resvg silently drops every label; fail loudly with the fix instead. */
function requireSystemFonts(): void {
  if (fontsChecked) return;
  if (!fontDirectories().some((dir) => containsFont(dir, 0))) {
    throw new FigureError(
      `no font found in ${fontDirectories().join(", ")}: the PNG would have no text. Install one, e.g. \`apt-get install fonts-dejavu-core\``,
    );
  }
  fontsChecked = true;
}

export interface PngOptions {
  /** Pixels per SVG unit (default 2, for sharp text). */
  scale?: number;
}

function resvgOptions(options: PngOptions) {
  const scale = options.scale ?? 2;
  if (!(scale > 0 && Number.isFinite(scale)))
    throw new FigureError(`PNG scale must be a positive number, got ${scale}`);
  return {
    fitTo: { mode: "zoom" as const, value: scale },
    // Vega writes font-family "sans-serif"; DejaVu Sans has ε, σ and the other symbols of our labels.
    // Where it is missing fontdb falls back to another system font.
    font: { loadSystemFonts: true, sansSerifFamily: "DejaVu Sans", defaultFontFamily: "DejaVu Sans" },
    logLevel: "off" as const,
  };
}

/** RGBA pixels and size of the rendered SVG (what `svgToPng` encodes); tests use it to see the text. */
export function rasterize(
  svg: string,
  options: PngOptions = {},
): { width: number; height: number; pixels: Buffer } {
  requireSystemFonts();
  const image = new Resvg(svg, resvgOptions(options)).render();
  return { width: image.width, height: image.height, pixels: image.pixels };
}

/** The SVG as PNG bytes, rendered off the main thread by resvg. */
export async function svgToPng(svg: string, options: PngOptions = {}): Promise<Buffer> {
  requireSystemFonts();
  const image = await renderAsync(svg, resvgOptions(options));
  return image.asPng();
}

export type FigureFormat = "svg" | "png" | "both";

export interface RenderOptions extends FigureOptions, PngOptions {
  outDir: string;
  /** File name without extension (default: the figure id, e.g. "fig5"). */
  basename?: string;
  /** Which files to write (default both). */
  format?: FigureFormat;
}

/** Paths of the files written; a format not asked for has no path. */
export interface RenderedFiles {
  svg?: string;
  png?: string;
}

/** Draws `figure` from `rows` and writes `<outDir>/<basename>.svg` and `.png`; returns their paths. */
export async function renderFigure(
  rows: readonly ResultRow[],
  figure: FigureId,
  options: RenderOptions & { format?: "both" },
): Promise<{ svg: string; png: string }>;
export async function renderFigure(
  rows: readonly ResultRow[],
  figure: FigureId,
  options: RenderOptions,
): Promise<RenderedFiles>;
export async function renderFigure(
  rows: readonly ResultRow[],
  figure: FigureId,
  options: RenderOptions,
): Promise<RenderedFiles> {
  const format = options.format ?? "both";
  if (!["svg", "png", "both"].includes(format)) {
    throw new FigureError(`format must be svg, png or both, got "${format}"`);
  }
  const svg = await renderSvg(figureSpec(figure, rows, options));
  const base = join(options.outDir, options.basename ?? figure);
  await mkdir(options.outDir, { recursive: true });
  const written: RenderedFiles = {};
  if (format !== "png") {
    written.svg = `${base}.svg`;
    await writeFile(written.svg, svg);
  }
  if (format !== "svg") {
    written.png = `${base}.png`;
    await writeFile(written.png, await svgToPng(svg, options));
  }
  return written;
}
