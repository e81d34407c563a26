import type { ResultRow } from "@unlearn/protocol";
import { beforeAll, describe, expect, it } from "vitest";
import { fixtureRows } from "../test/fixtures.ts";
import { FigureError, selectRows, seriesOrder } from "./data.ts";
import { FIGURE_IDS, FIGURES, type FigureId } from "./definitions.ts";
import { compileSpec, renderSvg, svgToPng } from "./render.ts";
import { figureSpec } from "./spec.ts";

/** The text of every <text> element of an SVG, entities decoded (Vega escapes quotes and ampersands). */
function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) =>
    m[1]
      .replace(/&#(\d+);/g, (_, code) => String.fromCodePoint(Number(code)))
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&amp;/g, "&"),
  );
}

/** PNG signature, then the IHDR chunk's width and height (big-endian, bytes 16–23). */
function pngSize(png: Buffer): { width: number; height: number } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(png.subarray(12, 16).toString("ascii")).toBe("IHDR");
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

type VegaScale = { name: string; type?: string };

interface Rendered {
  svg: string;
  png: Buffer;
  warnings: string[];
  scales: VegaScale[];
}

const rendered = {} as Record<FigureId, Rendered>;

beforeAll(async () => {
  // Render every figure once; the tests below inspect the results.
  for (const figure of FIGURE_IDS) {
    const spec = figureSpec(figure, fixtureRows[figure]);
    const { vega, warnings } = compileSpec(spec);
    const scales: VegaScale[] = [
      ...((vega.scales ?? []) as VegaScale[]),
      ...((vega.marks ?? []) as { scales?: VegaScale[] }[]).flatMap((mark) => mark.scales ?? []),
    ];
    const svg = await renderSvg(spec);
    rendered[figure] = { svg, png: await svgToPng(svg), warnings, scales };
  }
});

describe.each(FIGURE_IDS)("%s", (figure) => {
  const definition = FIGURES[figure];

  it("compiles with Vega-Lite without a warning", () => {
    expect(rendered[figure].warnings).toEqual([]);
  });

  it("draws the title, every axis title and a legend label for each series", () => {
    const texts = svgTexts(rendered[figure].svg);
    expect(texts).toContain(`${definition.name}: ${definition.caption}`);
    expect(texts.some((t) => t.startsWith("mnist-3v8 · ") && t.endsWith("100 chains"))).toBe(true);
    // A twin-axis figure is one plot with one x axis; side-by-side panels each have their own.
    const plots = definition.layout === "twin" ? 1 : definition.panels.length;
    expect(texts.filter((t) => t === definition.x.title)).toHaveLength(plots);
    for (const panel of definition.panels) expect(texts).toContain(panel.title);
    const series = seriesOrder(selectRows(figure, fixtureRows[figure]));
    expect(series.length).toBeGreaterThanOrEqual(3);
    for (const label of series) expect(texts).toContain(label);
    // Dependencies (figure "") are not drawn.
    expect(texts.some((t) => t.startsWith("learning on D"))).toBe(false);
    // The legend says what tells the series apart, not the field name.
    expect(texts).toContain(definition.legendTitle);
    expect(texts).not.toContain("series");
  });

  it("uses a log scale exactly where the paper does", () => {
    const { scales } = rendered[figure];
    const typeOf = (name: string) => scales.find((s) => s.name === name)?.type ?? "linear";
    const multi = definition.panels.length > 1;
    const twin = definition.layout === "twin";
    definition.panels.forEach((panel, i) => {
      const prefix = multi && !twin ? `concat_${i}_` : "";
      expect(typeOf(`${prefix}x`), `panel ${i + 1} x`).toBe(definition.x.log ? "log" : "linear");
      const y = twin ? `layer_${i}_y` : `${prefix}y`;
      expect(typeOf(y), `panel ${i + 1} y`).toBe(panel.log ? "log" : "linear");
    });
    expect(typeOf("color")).toBe("ordinal");
  });

  it("renders a PNG of the SVG's size at twice the resolution", () => {
    const { svg, png } = rendered[figure];
    const [, width, height] = svg.match(/<svg[^>]* width="(\d+)" height="(\d+)"/)!.map(Number);
    expect(width).toBeGreaterThan(400 * (definition.layout === "twin" ? 1 : definition.panels.length));
    expect(height).toBeGreaterThan(250);
    expect(pngSize(png)).toEqual({ width: 2 * width, height: 2 * height });
  });

  it("is plain JSON and the same for the same rows (the dashboard embeds it as is)", () => {
    const spec = figureSpec(figure, fixtureRows[figure]);
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
    expect(figureSpec(figure, [...fixtureRows[figure]].reverse())).toEqual(spec);
  });
});

describe("figureSpec", () => {
  it("draws a light band under each accuracy line and a dotted rule for rows without ε (Figure 3a)", () => {
    const spec = figureSpec("fig3a", fixtureRows.fig3a) as unknown as {
      layer: { mark: { type: string; opacity?: number } }[];
    };
    expect(spec.layer.map((l) => l.mark.type)).toEqual([
      "area",
      "line",
      "point", // rows with K (unlearning), their tooltip lists it
      "point", // rows without K (retraining, noiseless, D2D)
      "rect",
      "rule",
    ]);
    expect(spec.layer[0].mark.opacity).toBeLessThanOrEqual(0.15);
    const texts = svgTexts(rendered.fig3a.svg);
    expect(texts).toContain("noiseless (σ=0)");
  });

  it("keeps one colour and one dash per series across panels", () => {
    const spec = figureSpec("fig4", fixtureRows.fig4) as unknown as { resolve: unknown };
    expect(spec.resolve).toEqual({ scale: { color: "shared", strokeDash: "shared" } });
  });

  it("takes its size and title from the options and refuses an unknown figure", () => {
    const spec = figureSpec("fig5", fixtureRows.fig5, {
      width: 500,
      height: 300,
      title: "Mine",
    }) as unknown as {
      width: number;
      height: number;
      title: { text: string };
    };
    expect([spec.width, spec.height, spec.title.text]).toEqual([500, 300, "Mine"]);
    expect(() => figureSpec("fig6" as FigureId, fixtureRows.fig5)).toThrow(/unknown figure "fig6"/);
    expect(() => figureSpec("fig5", [] as ResultRow[])).toThrow(FigureError);
  });
});
