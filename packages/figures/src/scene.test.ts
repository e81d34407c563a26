/**
 * The charts as Vega lays them out: each figure is run in a headless Vega View from the fixtures and its
 * scenegraph read back. Tooltips as a reader hovering the chart sees them (rows without a K — retraining,
 * noiseless training, D2D — once showed "K NaN"; these tests fail if any tooltip shows NaN or a K the
 * row does not have), and the items' bounds (Figure 3c's "K=…" labels must not cover the ε0 markers).
 */
import { parse, View } from "vega";
import { describe, expect, it } from "vitest";
import { fixtureRows } from "../test/fixtures.ts";
import type { FigurePoint } from "./data.ts";
import { FIGURE_IDS, FIGURES, type FigureId } from "./definitions.ts";
import { compileSpec } from "./render.ts";
import { figureSpec } from "./spec.ts";

interface Hovered {
  datum: Partial<FigurePoint>;
  tooltip: Record<string, unknown>;
}

interface Bounds {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

interface SceneNode {
  marktype?: string;
  items?: SceneNode[];
  datum?: Partial<FigurePoint>;
  tooltip?: unknown;
  text?: string;
  shape?: string;
  bounds?: Bounds;
}

/** Every scenegraph item that carries a tooltip, with the datum it was drawn from. */
function hoverables(node: SceneNode, found: Hovered[] = []): Hovered[] {
  if (node.tooltip && typeof node.tooltip === "object" && node.datum) {
    found.push({ datum: node.datum, tooltip: node.tooltip as Record<string, unknown> });
  }
  for (const child of node.items ?? []) hoverables(child, found);
  return found;
}

/** Every drawn item of the marks of type `marktype` (their bounds are in the same plot's coordinates). */
function itemsOf(node: SceneNode, marktype: string, found: SceneNode[] = []): SceneNode[] {
  for (const child of node.items ?? []) {
    if (node.marktype === marktype) found.push(child);
    else itemsOf(child, marktype, found);
  }
  return found;
}

/** The figure run headless from the fixtures: its scenegraph, with items' tooltips and bounds computed. */
async function sceneOf(figure: FigureId): Promise<SceneNode> {
  const { vega } = compileSpec(figureSpec(figure, fixtureRows[figure]));
  const view = new View(parse(vega), { renderer: "none" });
  try {
    await view.runAsync();
    return (view.scenegraph() as unknown as { root: SceneNode }).root;
  } finally {
    view.finalize();
  }
}

const scenes = Object.fromEntries(
  await Promise.all(FIGURE_IDS.map(async (f) => [f, await sceneOf(f)] as const)),
) as Record<FigureId, SceneNode>;
const tooltips = Object.fromEntries(FIGURE_IDS.map((f) => [f, hoverables(scenes[f])])) as Record<
  FigureId,
  Hovered[]
>;

describe.each(FIGURE_IDS)("%s tooltips", (figure) => {
  it("show no NaN, null or undefined value", () => {
    expect(tooltips[figure].length).toBeGreaterThan(0);
    for (const { datum, tooltip } of tooltips[figure]) {
      for (const [field, value] of Object.entries(tooltip)) {
        expect(String(value), `${field} of ${datum.series} at ${datum.x}`).not.toMatch(/NaN|null|undefined/);
      }
    }
  });

  it("show K exactly where the row has one, with its value", () => {
    for (const { datum, tooltip } of tooltips[figure]) {
      if (datum.K === undefined) expect(tooltip, `${datum.series} at ${datum.x}`).not.toHaveProperty("K");
      else expect(tooltip.K, `${datum.series} at ${datum.x}`).toBe(String(datum.K));
    }
  });

  it("give the x value the row ran, not the position its error bar was moved to", () => {
    const title = FIGURES[figure].x.title;
    const withX = tooltips[figure].filter((t) => title in t.tooltip);
    expect(withX.length).toBeGreaterThan(0);
    for (const { datum, tooltip } of withX) expect(tooltip[title]).toBe(String(datum.x));
  });
});

describe("rows without K", () => {
  it("are hovered in Figures 3a, 3c and 5 (retraining), and their tooltips leave K out", () => {
    for (const figure of ["fig3a", "fig3c", "fig5"] as const) {
      const retraining = tooltips[figure].filter((t) => t.datum.kind === "retrain");
      expect(retraining.length, figure).toBeGreaterThan(0);
      for (const { datum, tooltip } of retraining) {
        expect(Object.keys(tooltip)).not.toContain("K");
        expect(tooltip.series).toBe(datum.series);
      }
    }
  });

  it("still show K on the unlearning points that have one (Figure 5)", () => {
    const withK = tooltips.fig5.filter((t) => t.datum.kind === "unlearn" && t.datum.K !== undefined);
    expect(withK.length).toBeGreaterThan(0);
    for (const { datum, tooltip } of withK) expect(tooltip.K).toBe(String(datum.K));
  });
});

describe("Figure 3c's K labels", () => {
  const overlap = (a: Bounds, b: Bounds) => a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;

  it("touch none of the ε0 triangles (the one at σ = 0.05 sits right above the first label's bar)", () => {
    const labels = itemsOf(scenes.fig3c, "text").filter((t) => t.text?.startsWith("K="));
    const triangles = itemsOf(scenes.fig3c, "symbol").filter((s) => s.shape === "triangle-up");
    expect(labels.map((l) => l.text)).toEqual(["K=2210", "K=1580", "K=962", "K=241", "K=1"]);
    expect(triangles).toHaveLength(5);
    for (const label of labels) {
      for (const triangle of triangles) {
        expect(overlap(label.bounds!, triangle.bounds!), `${label.text} and ε0 at ${triangle.datum?.x}`).toBe(
          false,
        );
      }
    }
  });
});
