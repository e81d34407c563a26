/**
 * The results explorer's filters and sort, over ResultRow (pure: the page and the CSV route share them,
 * so the CSV holds exactly the rows the table shows, in the same order).
 */
import type { ResultRow } from "@unlearn/protocol";

/** The filterable fields and their URL parameter names. */
export const FILTERS = [
  { param: "sweep", field: "sweep", label: "sweep" },
  { param: "dataset", field: "dataset", label: "dataset" },
  { param: "kind", field: "kind", label: "kind" },
  { param: "sigma", field: "sigma", label: "σ" },
  { param: "epsilon", field: "epsilon", label: "ε" },
  { param: "S", field: "removals", label: "S (removed)" },
  { param: "K", field: "K", label: "K" },
] as const satisfies readonly { param: string; field: keyof ResultRow; label: string }[];

export const SORTABLE = [
  "sweep",
  "figure",
  "series",
  "kind",
  "dataset",
  "sigma",
  "epsilon",
  "removals",
  "K",
  "chains",
  "accuracyMean",
  "accuracyStd",
  "wallMs",
] as const satisfies readonly (keyof ResultRow)[];
export type SortField = (typeof SORTABLE)[number];

export interface Query {
  filters: Partial<Record<(typeof FILTERS)[number]["param"], string>>;
  sort: SortField | null;
  dir: "asc" | "desc";
}

/** A cell's value as the filter compares it: null (no ε, no K) is "none". */
export function filterValue(value: unknown): string {
  return value === null || value === undefined ? "none" : String(value);
}

type Params = Record<string, string | string[] | undefined> | URLSearchParams;

function param(params: Params, name: string): string | undefined {
  const v = params instanceof URLSearchParams ? params.get(name) : params[name];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined || one === null || one === "" ? undefined : one;
}

export function parseQuery(params: Params): Query {
  const filters: Query["filters"] = {};
  for (const f of FILTERS) {
    const v = param(params, f.param);
    if (v !== undefined) filters[f.param] = v;
  }
  const sort = param(params, "sort");
  return {
    filters,
    sort: (SORTABLE as readonly string[]).includes(sort ?? "") ? (sort as SortField) : null,
    dir: param(params, "dir") === "desc" ? "desc" : "asc",
  };
}

/** The URL query of a Query (filters, then sort), for links and the CSV export. */
export function queryString(q: Query, change: Partial<Query> = {}): string {
  const next = { ...q, ...change };
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(next.filters)) if (v !== undefined) out.set(k, v);
  if (next.sort) {
    out.set("sort", next.sort);
    out.set("dir", next.dir);
  }
  const text = out.toString();
  return text ? `?${text}` : "";
}

/** The rows that pass every filter, sorted when asked (a stable sort: ties keep `pnpm results` order). */
export function applyQuery(rows: readonly ResultRow[], q: Query): ResultRow[] {
  const kept = rows.filter((row) =>
    FILTERS.every((f) => {
      const wanted = q.filters[f.param];
      return wanted === undefined || filterValue(row[f.field]) === wanted;
    }),
  );
  if (!q.sort) return kept;
  const field = q.sort;
  const sign = q.dir === "desc" ? -1 : 1;
  return kept
    .map((row, i) => ({ row, i }))
    .sort((a, b) => sign * compare(a.row[field], b.row[field]) || a.i - b.i)
    .map((x) => x.row);
}

/** Numbers numerically, text naturally; null last whichever the direction... of the ascending order. */
function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), "en", { numeric: true });
}

/** The distinct values of each filter over `rows`, sorted, for the filter menus. */
export function filterOptions(rows: readonly ResultRow[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of FILTERS) {
    const values = [...new Set(rows.map((r) => filterValue(r[f.field])))];
    out[f.param] = values.sort((a, b) => compare(numeric(a), numeric(b)));
  }
  return out;
}

function numeric(v: string): string | number {
  const n = Number(v);
  return v !== "none" && Number.isFinite(n) ? n : v;
}

/**
 * The CSV download's file name: results-<sweep>.csv with the sweep id cut to 12 characters of
 * [A-Za-z0-9_-] (a filter value is free text: quotes or line breaks would break the header).
 */
export function csvFileName(sweep: string | undefined): string {
  const safe = (sweep ?? "").replace(/[^\w-]/g, "").slice(0, 12);
  return safe ? `results-${safe}.csv` : "results.csv";
}
