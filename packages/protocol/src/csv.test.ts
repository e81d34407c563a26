import { describe, expect, it } from "vitest";
import { csvField, resultsCsv, toCsv } from "./csv.ts";
import type { ResultRow } from "./rows.ts";

describe("CSV fields", () => {
  it("quotes commas, quotes and line breaks (RFC 4180); null is empty", () => {
    expect(csvField('a,"b"')).toBe('"a,""b"""');
    expect(csvField("x\ny")).toBe('"x\ny"');
    expect(csvField(null)).toBe("");
  });

  it("writes text a spreadsheet would run as a formula as text (a leading ')", () => {
    for (const formula of ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\r=1"]) {
      expect(csvField(formula).replace(/^"/, "").startsWith("'"), formula).toBe(true);
    }
    expect(csvField('=cmd|"/c calc"!A0')).toBe(`"'=cmd|""/c calc""!A0"`);
    expect(toCsv(["engine"], [{ engine: "=1+1" }])).toBe("engine\n'=1+1");
  });

  it("leaves numbers, negative ones included, and ordinary text as they are", () => {
    expect([csvField(-0.5), csvField(3), csvField("cpu-f64"), csvField("synthetic?n=1&d=2")]).toEqual([
      "-0.5",
      "3",
      "cpu-f64",
      "synthetic?n=1&d=2",
    ]);
  });
});

describe("the results CSV", () => {
  const row = (fusedColumns: number | null): ResultRow => ({
    sweep: "s",
    job: "j",
    figure: "fig5",
    series: "learning",
    kind: "learn",
    dataset: "mnist",
    smoothness: "data",
    sigma: 0.03,
    epsilon: null,
    removals: 0,
    K: null,
    alpha: null,
    epsilon0: null,
    batch: null,
    chains: 2,
    accuracyMean: 0.5,
    accuracyStd: 0,
    accuracies: [0.5, 0.5],
    engine: "onnx",
    wallMs: 12,
    fusedColumns,
  });

  it("ends with fusedColumns: the fused batch's width, empty for a job that ran alone", () => {
    const [header, fused, alone] = resultsCsv([row(40), row(null)]).split("\n");
    expect(header!.split(",").at(-1)).toBe("fusedColumns");
    expect(fused!.split(",").at(-1)).toBe("40");
    expect(alone!.endsWith(",12,")).toBe(true);
  });
});
