import { describe, expect, it } from "vitest";
import { csvField, toCsv } from "./csv.ts";

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
