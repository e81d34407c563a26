/**
 * The drawing as a reader sees it, read back from the rendered SVG: line styles per series, colours,
 * tick labels, axes and legend titles. These fail if, for example, retraining stops being dashed or the
 * x ticks fall back to round numbers instead of the values the sweep ran.
 */
import { describe, expect, it } from "vitest";
import { fixtureRows } from "../test/fixtures.ts";
import type { FigurePoint } from "./data.ts";
import { FIGURE_IDS, FIGURES, type FigureId } from "./definitions.ts";
import { compileSpec, renderSvg } from "./render.ts";
import { figureSpec } from "./spec.ts";
import { DASHES, NEUTRAL } from "./style.ts";

const svgs = Object.fromEntries(
  await Promise.all(
    FIGURE_IDS.map(async (f) => [f, await renderSvg(figureSpec(f, fixtureRows[f]))] as const),
  ),
) as Record<FigureId, string>;

function decode(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, code) => String.fromCodePoint(Number(code)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

function attributes(tag: string): Record<string, string> {
  return Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1], decode(m[2])]));
}

/** Each series' line as drawn: its stroke colour and dash array (Vega names the series in aria-label). */
function lines(svg: string): Map<string, { stroke: string; dash: string }> {
  const found = new Map<string, { stroke: string; dash: string }>();
  for (const [tag] of svg.matchAll(/<path [^>]*aria-roledescription="line mark"[^>]*>/g)) {
    const a = attributes(tag);
    const series = /series: (.*)$/.exec(a["aria-label"])?.[1];
    if (series) found.set(series, { stroke: a.stroke, dash: a["stroke-dasharray"] ?? "1,0" });
  }
  return found;
}

/** The tick labels of the axis whose aria-label starts with `axis` ("X-axis", "Y-axis titled 'K'"…). */
function tickLabels(svg: string, axis: string): string[] {
  const start = svg.indexOf(`aria-label="${axis}`);
  expect(start, `${axis} in the SVG`).toBeGreaterThan(0);
  const end = svg.indexOf("role-axis-title", start);
  return [...svg.slice(start, end).matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => decode(m[1]));
}

type Datasets = Record<string, (FigurePoint & { xPlot: number; marker: boolean })[]>;
const datasetsOf = (figure: FigureId) =>
  (figureSpec(figure, fixtureRows[figure]) as unknown as { datasets: Datasets }).datasets;

const dash = (role: keyof typeof DASHES) => DASHES[role].join(",");
/** What each style must look like, whatever the exact numbers: solid, dashed (dash, gap), dash-dot. */
const SOLID = "1,0";
const DASHED = /^[1-9]\d*,[1-9]\d*$/;
const DASH_DOT = /^([1-9]\d*,){3}[1-9]\d*$/;

describe("Figure 5 as the paper draws it", () => {
  const drawn = lines(svgs.fig5);

  it("draws retraining dashed in neutral grey and each ε's unlearning solid in a colour of its own", () => {
    expect([...drawn.keys()].sort()).toEqual([
      "retraining",
      "unlearning ε=0.5",
      "unlearning ε=1",
      "unlearning ε=2",
    ]);
    expect(drawn.get("retraining")).toEqual({ stroke: NEUTRAL, dash: dash("retrain") });
    expect(drawn.get("retraining")!.dash).toMatch(DASHED);
    const unlearning = ["unlearning ε=0.5", "unlearning ε=1", "unlearning ε=2"].map((s) => drawn.get(s)!);
    for (const line of unlearning) expect(line.dash).toBe(SOLID);
    expect(new Set(unlearning.map((l) => l.stroke)).size).toBe(3);
    expect(unlearning.map((l) => l.stroke)).not.toContain(NEUTRAL);
  });

  it("puts the x ticks at the S values that were run, and only there", () => {
    expect(tickLabels(svgs.fig5, "X-axis")).toEqual(["1", "10", "50", "100", "500", "1000"]);
  });

  it("titles the legend by what tells the series apart", () => {
    expect(svgs.fig5).toContain(">method, privacy budget</text>");
  });

  it("sets the series' error bars side by side, in legend order, keeping the true S for tooltips", () => {
    const at50 = datasetsOf("fig5").panel1.filter((p) => p.x === 50);
    const order = ["unlearning ε=0.5", "unlearning ε=1", "unlearning ε=2", "retraining"];
    const xs = order.map((s) => at50.find((p) => p.series === s)!.xPlot);
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
    expect(new Set(xs).size).toBe(4);
    // A small, symmetric offset on the log axis: within ±20 % of S, centred on S.
    for (const x of xs) expect(Math.abs(Math.log(x / 50))).toBeLessThan(Math.log(1.2));
    expect(Math.log(xs[0] / 50)).toBeCloseTo(-Math.log(xs[3] / 50), 9);
    const { vega } = compileSpec(figureSpec("fig5", fixtureRows.fig5));
    expect(JSON.stringify(vega.marks)).toContain('"errorbar"');
  });
});

describe("Figure 3a", () => {
  const drawn = lines(svgs.fig3a);

  it("pairs retraining with its unlearning by colour, dashed, and draws D2D dash-dot", () => {
    for (const k of [1, 2, 5]) {
      const unlearn = drawn.get(`unlearning k=${k}`)!;
      const retrain = drawn.get(`retraining k=${k}`)!;
      expect(retrain.stroke).toBe(unlearn.stroke);
      expect(unlearn.dash).toBe(SOLID);
      expect(retrain.dash).toMatch(DASHED);
      expect(drawn.get(`D2D I=${k}`)!.dash).toMatch(DASH_DOT);
    }
    const colours = [1, 2, 5].flatMap((k) => [drawn.get(`unlearning k=${k}`)!, drawn.get(`D2D I=${k}`)!]);
    expect(new Set(colours.map((l) => l.stroke)).size).toBe(6);
  });

  it("has a log ε axis with ticks at the ε values run", () => {
    expect(tickLabels(svgs.fig3a, "X-axis titled 'privacy budget ε' for a log scale")).toEqual([
      "0.05",
      "0.1",
      "0.5",
      "1",
      "2",
      "5",
    ]);
  });
});

describe("Figure 3b", () => {
  it("accumulates K per series and marks the Langevin batches, not the 100 single D2D removals", () => {
    const points = datasetsOf("fig3b").panel1;
    const d2d = points.filter((p) => p.series === "D2D f=1");
    const langevin = points.filter((p) => p.series === "Langevin S=20");
    expect(d2d.every((p) => !p.marker)).toBe(true);
    expect(langevin.every((p) => p.marker)).toBe(true);
    expect(langevin.map((p) => [p.x, p.xPlot])).toEqual(langevin.map((p) => [p.x, p.x]));
    expect(langevin.map((p) => p.y)).toEqual([0, 864, 1894, 2938, 3992, 5058]);
    expect(lines(svgs.fig3b).get("D2D f=2")!.dash).toMatch(DASH_DOT);
    expect(lines(svgs.fig3b).get("Langevin S=5")!.dash).toBe(SOLID);
  });
});

describe("Figure 3c", () => {
  it("is one plot over σ with ε0 on a log axis on the left and accuracy on the right", () => {
    const { vega } = compileSpec(figureSpec("fig3c", fixtureRows.fig3c));
    const axes = (vega.axes ?? []).filter((a) => a.title);
    expect(axes.map((a) => [a.orient, a.title])).toEqual([
      ["bottom", FIGURES.fig3c.x.title],
      ["left", FIGURES.fig3c.panels[0].title],
      ["right", FIGURES.fig3c.panels[1].title],
    ]);
    expect(svgs.fig3c).toContain("Y-axis titled 'initial privacy loss ε0 (log scale)' for a log scale");
    expect(svgs.fig3c).toContain("Y-axis titled 'test accuracy (mean ± std)' for a linear scale");
  });

  it("draws ε0 black and dashed, in the legend, and writes K beside each unlearning point", () => {
    const drawn = lines(svgs.fig3c);
    expect(drawn.get("ε0")).toEqual({ stroke: "#222222", dash: "4,2" });
    expect(drawn.get("retraining")!.dash).toMatch(DASHED);
    expect(drawn.get("unlearning")!.dash).toBe(SOLID);
    expect(drawn.get("retraining")!.stroke).not.toBe(drawn.get("unlearning")!.stroke);
    expect(svgs.fig3c).toMatch(/>ε0<\/text>/);
    for (const K of [2210, 1580, 962, 241, 1]) expect(svgs.fig3c).toContain(`>K=${K}</text>`);
    expect(tickLabels(svgs.fig3c, "X-axis")).toEqual(["0.05", "0.1", "0.2", "0.5", "1"]);
  });
});

describe("Figure 4", () => {
  it("ticks ε at the values run on both panels and titles the legend with S", () => {
    const svg = svgs.fig4;
    const first = tickLabels(svg, "X-axis");
    expect(first).toEqual(["0.1", "0.5", "1", "2", "5"]);
    const second = tickLabels(svg.slice(svg.indexOf('aria-label="X-axis') + 10), "X-axis");
    expect(second).toEqual(first);
    expect(svg).toContain(">points removed</text>");
  });
});
