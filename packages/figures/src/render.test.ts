import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fixtureRows } from "../test/fixtures.ts";
import { rasterize, renderFigure } from "./render.ts";

const dir = mkdtempSync(join(tmpdir(), "figures-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Pixels clearly darker than the white background. */
function darkPixels(svg: string): number {
  const { pixels } = rasterize(svg, { scale: 1 });
  let dark = 0;
  for (let i = 0; i < pixels.length; i += 4) if (pixels[i] + pixels[i + 1] + pixels[i + 2] < 300) dark++;
  return dark;
}

describe("PNG text", () => {
  it("draws labels in Vega's sans-serif font, Greek letters included", () => {
    const page = (body: string) =>
      `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="60"><rect width="240" height="60" fill="white"/>${body}</svg>`;
    expect(darkPixels(page(""))).toBe(0);
    // Without a usable font resvg drops text silently: the glyphs must leave ink.
    expect(
      darkPixels(page('<text x="10" y="42" font-family="sans-serif" font-size="32">ε σ K</text>')),
    ).toBeGreaterThan(150);
  });
});

describe("renderFigure", () => {
  it("writes <outDir>/<figure>.svg and .png and returns their paths", async () => {
    const out = join(dir, "nested", "out");
    const files = await renderFigure(fixtureRows.fig5, "fig5", { outDir: out });
    expect(files).toEqual({ svg: join(out, "fig5.svg"), png: join(out, "fig5.png") });
    expect(readFileSync(files.svg, "utf8")).toMatch(/^<svg /);
    expect(readFileSync(files.png).subarray(1, 4).toString("ascii")).toBe("PNG");
  });

  it("writes only the format asked for, under the basename given", async () => {
    const files = await renderFigure(fixtureRows.fig4, "fig4", {
      outDir: dir,
      basename: "fig4-mnist",
      format: "svg",
    });
    expect(files).toEqual({ svg: join(dir, "fig4-mnist.svg") });
    expect(existsSync(join(dir, "fig4-mnist.png"))).toBe(false);
    await expect(
      renderFigure(fixtureRows.fig4, "fig4", { outDir: dir, format: "pdf" as "svg" }),
    ).rejects.toThrow(/format must be svg, png or both, got "pdf"/);
    expect(() => rasterize("<svg/>", { scale: 0 })).toThrow(/scale must be a positive number/);
  });
});
