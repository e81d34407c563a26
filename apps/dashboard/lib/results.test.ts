import { fixtureRows } from "@unlearn/figures/fixtures";
import { describe, expect, test } from "vitest";
import { applyQuery, csvFileName, filterOptions, parseQuery, queryString } from "./results.ts";

const rows = fixtureRows.fig4;

describe("results explorer query", () => {
  test("filters by each field, with null shown as none", () => {
    const q = parseQuery(new URLSearchParams("S=100&kind=unlearn"));
    const kept = applyQuery(rows, q);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.every((r) => r.removals === 100 && r.kind === "unlearn")).toBe(true);
    const none = applyQuery(rows, parseQuery(new URLSearchParams("epsilon=none")));
    expect(none.every((r) => r.epsilon === null)).toBe(true);
  });

  test("keeps the stored order without a sort, and sorts stably with one", () => {
    expect(applyQuery(rows, parseQuery(new URLSearchParams("")))).toEqual(rows);
    const sorted = applyQuery(rows, parseQuery(new URLSearchParams("sort=accuracyMean&dir=desc")));
    const means = sorted.map((r) => r.accuracyMean);
    expect(means).toEqual([...means].sort((a, b) => b - a));
  });

  test("an unknown sort field is ignored, and the query string round-trips", () => {
    const q = parseQuery(new URLSearchParams("sort=job;drop&dir=up&sigma=0.03"));
    expect(q.sort).toBeNull();
    expect(q.dir).toBe("asc");
    expect(queryString(q)).toBe("?sigma=0.03");
    expect(parseQuery(new URLSearchParams(queryString(q, { sort: "K", dir: "desc" })))).toEqual({
      filters: { sigma: "0.03" },
      sort: "K",
      dir: "desc",
    });
  });

  test("filter menus list distinct values in numeric order", () => {
    const options = filterOptions(rows);
    expect(options.S).toEqual(
      [...new Set(rows.map((r) => String(r.removals)))].sort((a, b) => Number(a) - Number(b)),
    );
  });
});

describe("the CSV download's file name", () => {
  test("keeps 12 safe characters of the sweep id; quotes, line breaks and paths are dropped", () => {
    expect(csvFileName("0123456789abcdef")).toBe("results-0123456789ab.csv");
    expect(csvFileName('a"; x\r\nSet-Cookie: y')).toBe("results-axSet-Cookie.csv");
    expect(csvFileName("../..")).toBe("results.csv");
    expect(csvFileName(undefined)).toBe("results.csv");
  });
});
