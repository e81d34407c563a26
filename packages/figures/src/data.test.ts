import type { ResultRow } from "@unlearn/protocol";
import { describe, expect, it } from "vitest";
import { fixtureRows } from "../test/fixtures.ts";
import {
  FigureError,
  figureGroups,
  formatNumber,
  panelData,
  selectRows,
  seriesOrder,
  subtitle,
} from "./data.ts";
import { FIGURES, type FigureId } from "./definitions.ts";

/** The rows each figure draws (the fixtures also hold the dependencies a sweep links but does not draw). */
const drawn = (figure: FigureId) => selectRows(figure, fixtureRows[figure]);
const [fig3aRows, fig3bRows, fig3cRows, fig4Rows, fig5Rows] = (
  ["fig3a", "fig3b", "fig3c", "fig4", "fig5"] as const
).map(drawn);

const withChange = (rows: ResultRow[], index: number, change: Partial<ResultRow>) =>
  rows.map((row, i) => (i === index ? { ...row, ...change } : row));

describe("panelData", () => {
  it("accumulates K over each series' batches in batch order, whatever the row order", () => {
    const { points } = panelData(FIGURES.fig3b, "accumulatedK", fig3bRows);
    const batch5 = points.filter((p) => p.series === "Langevin S=5");
    // Batch 0 is the model learned on D: nothing removed, no step taken yet.
    expect(batch5.map((p) => p.x)).toEqual(Array.from({ length: 21 }, (_, i) => 5 * i));
    expect(batch5.slice(0, 4).map((p) => p.y)).toEqual([0, 263, 794, 1380]);
    // The accountant's accumulated schedule for batches of 5 ends at 19717 steps.
    expect(batch5.at(-1)!.y).toBe(19717);
    // Sequential D2D: I_i = 90 for i ≤ 6, 91 up to i = 76, then 92, summed over 100 single removals.
    const d2d = points.filter((p) => p.series === "D2D f=1");
    expect(d2d).toHaveLength(101);
    expect(d2d.at(-1)!.y).toBe(6 * 90 + 70 * 91 + 24 * 92);
  });

  it("rejects a sequential row without its batch number, or two rows for one batch", () => {
    expect(() => panelData(FIGURES.fig3b, "accumulatedK", withChange(fig3bRows, 3, { batch: null }))).toThrow(
      /batch = null/,
    );
    const twice = [...fig3bRows, { ...fig3bRows[0], job: "another-job" }];
    expect(() => panelData(FIGURES.fig3b, "accumulatedK", twice)).toThrow(/two rows for batch/);
  });

  it("draws accuracy as mean with a ±std band", () => {
    const { points, references } = panelData(FIGURES.fig5, "accuracy", fig5Rows);
    expect(points).toHaveLength(24);
    expect(references).toEqual([]);
    const retrain1000 = points.find((p) => p.series === "retraining" && p.x === 1000)!;
    expect(retrain1000.y).toBe(0.9468);
    expect(retrain1000.lower).toBeCloseTo(0.9468 - 0.005, 12);
    expect(retrain1000.upper).toBeCloseTo(0.9468 + 0.005, 12);
  });

  it("turns a row without ε into a reference line (noiseless training holds at every ε)", () => {
    const { points, references } = panelData(FIGURES.fig3a, "accuracy", fig3aRows);
    expect(references.map((r) => r.series)).toEqual(["noiseless (σ=0)"]);
    expect(points.some((p) => p.series === "noiseless (σ=0)")).toBe(false);
    expect(points).toHaveLength(54);
  });

  it("takes ε0 once per σ from the rows that carry it, and rejects disagreeing rows", () => {
    const { points } = panelData(FIGURES.fig3c, "epsilon0", fig3cRows);
    expect(points.map((p) => [p.x, p.y])).toEqual([
      [0.05, 27.99],
      [0.1, 11.67],
      [0.2, 5.254],
      [0.5, 1.962],
      [1, 0.958],
    ]);
    const retrain02 = fig3cRows.findIndex((row) => row.kind === "retrain" && row.sigma === 0.2);
    expect(() =>
      panelData(FIGURES.fig3c, "epsilon0", withChange(fig3cRows, retrain02, { epsilon0: 3 })),
    ).toThrow(/rows at x = 0.2 disagree on epsilon0/);
    const none = fig3cRows.map((row) => ({ ...row, epsilon0: null }));
    expect(() => panelData(FIGURES.fig3c, "epsilon0", none)).toThrow(/no row carries epsilon0/);
  });

  it("names the row and field of a value the figure cannot draw", () => {
    const job = fig4Rows[2].job.slice(0, 12);
    expect(() => panelData(FIGURES.fig4, "K", withChange(fig4Rows, 2, { K: null }))).toThrow(
      new RegExp(`job ${job} \\(series "S=1"\\) has K = null`),
    );
    expect(() => panelData(FIGURES.fig5, "accuracy", withChange(fig5Rows, 0, { removals: 0 }))).toThrow(
      /removals = 0, which a logarithmic axis cannot show/,
    );
    expect(() =>
      panelData(FIGURES.fig5, "accuracy", withChange(fig5Rows, 0, { accuracyMean: Number.NaN })),
    ).toThrow(/accuracyMean = NaN/);
    expect(() => panelData(FIGURES.fig5, "accuracy", withChange(fig5Rows, 0, { accuracyStd: -0.1 }))).toThrow(
      /accuracyStd = -0.1/,
    );
    expect(() => panelData(FIGURES.fig4, "K", withChange(fig4Rows, 1, { K: 0 }))).toThrow(
      /K = 0, which a logarithmic axis cannot show/,
    );
    expect(() => panelData(FIGURES.fig4, "K", withChange(fig4Rows, 0, { epsilon: null }))).toThrow(
      /epsilon = null/,
    );
  });

  it("rejects two rows of one series at one x (they would draw a zigzag)", () => {
    const twice = [...fig5Rows, { ...fig5Rows[0], job: "duplicate-job" }];
    expect(() => panelData(FIGURES.fig5, "accuracy", twice)).toThrow(
      /series "unlearning ε=0.5" has two rows at removals = 1/,
    );
  });
});

describe("selecting rows", () => {
  it("keeps the figure's rows and needs a dataset choice when there are several", () => {
    const cifar = fixtureRows.fig5.map((row) => ({ ...row, dataset: "cifar10-3v8", job: `${row.job}-c` }));
    const both = [...fixtureRows.fig5, ...cifar, ...fixtureRows.fig4];
    expect(() => selectRows("fig5", both)).toThrow(/several datasets \(cifar10-3v8, mnist-3v8\)/);
    expect(selectRows("fig5", both, "cifar10-3v8")).toHaveLength(24);
    expect(() => selectRows("fig5", both, "cifar10-multi")).toThrow(/no rows for dataset "cifar10-multi"/);
    expect(() => selectRows("fig3c", both)).toThrow(
      /none of the \d+ rows belongs to fig3c \(their figures: \(dependencies\), fig5, fig4\)/,
    );
    expect(() => selectRows("fig3c", [])).toThrow(FigureError);
  });

  it("splits a sweep into one group per figure and dataset, and refuses rows of no paper figure", () => {
    const cifar = fixtureRows.fig5.map((row) => ({ ...row, dataset: "cifar10-3v8" }));
    // The dependencies (figure "") are linked to the sweep but belong to no figure.
    const groups = figureGroups([...fixtureRows.fig5, ...fixtureRows.fig4, ...cifar]);
    expect(groups.map((g) => [g.figure, g.dataset, g.rows.length])).toEqual([
      ["fig4", "mnist-3v8", 15],
      ["fig5", "cifar10-3v8", 24],
      ["fig5", "mnist-3v8", 24],
    ]);
    expect(() => figureGroups([{ ...fig5Rows[0], figure: "custom" }])).toThrow(
      /figure "custom", which is not a paper figure/,
    );
  });
});

describe("labels", () => {
  it("orders series naturally", () => {
    expect(seriesOrder(fig4Rows.slice().reverse())).toEqual(["S=1", "S=50", "S=100"]);
  });

  it("writes dataset, σ, fixed settings and chains in the subtitle", () => {
    expect(subtitle(FIGURES.fig5, fig5Rows)).toBe("mnist-3v8 · σ = 0.03 · 100 chains");
    expect(subtitle(FIGURES.fig3a, fig3aRows)).toBe("mnist-3v8 · σ = σ*(ε, k) · S = 1 · 100 chains");
    expect(subtitle(FIGURES.fig3b, fig3bRows)).toBe("mnist-3v8 · σ = 0.03 · ε = 1 · 100 chains");
    expect(subtitle(FIGURES.fig3c, fig3cRows)).toBe("mnist-3v8 · ε = 1 · S = 100 · L_data · 100 chains");
    const bound = fig3cRows.map((r) => ({ ...r, smoothness: "bound" as const }));
    expect(subtitle(FIGURES.fig3c, bound)).toBe("mnist-3v8 · ε = 1 · S = 100 · L = 1/4 + λn · 100 chains");
    const mixed = fig4Rows.map((row, i) => ({ ...row, chains: i === 0 ? 50 : 100 }));
    expect(subtitle(FIGURES.fig4, mixed)).toBe("mnist-3v8 · σ = 0.03 · 50–100 chains");
  });

  it("formats numbers to four significant digits", () => {
    expect(formatNumber(0.0095594)).toBe("0.009559");
    expect(formatNumber(0.03)).toBe("0.03");
    expect(formatNumber(1485)).toBe("1485");
  });
});
