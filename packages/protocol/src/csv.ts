/**
 * Result rows as CSV, written once for `pnpm results --csv` and the dashboard's explorer export, so the
 * two files are byte for byte the same.
 */
import type { ResultRow } from "./rows.ts";

/** The columns of the results CSV and their order: every ResultRow field. */
export const RESULT_CSV_COLUMNS = [
  "sweep",
  "job",
  "figure",
  "series",
  "kind",
  "dataset",
  "smoothness",
  "sigma",
  "epsilon",
  "removals",
  "K",
  "alpha",
  "epsilon0",
  "batch",
  "chains",
  "accuracyMean",
  "accuracyStd",
  "accuracies",
  "engine",
  "wallMs",
  "fusedColumns",
] as const satisfies readonly (keyof ResultRow)[];

export type CsvValue = string | number | null;

/**
 * RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled; null is an empty field.
 * A text field that a spreadsheet would run as a formula (it starts with = + - @, a tab or a carriage
 * return: CSV injection; some columns, such as engine, come from workers) gets a leading ' first,
 * which spreadsheets show as text. Numbers are written as they are.
 */
export function csvField(value: CsvValue): string {
  const raw = value === null ? "" : String(value);
  const text = typeof value === "string" && /^[=+\-@\t\r]/.test(raw) ? `'${raw}` : raw;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A header row and one line per record, joined by "\n" (no trailing line break). */
export function toCsv<K extends string>(columns: readonly K[], records: Record<K, CsvValue>[]): string {
  return [columns.join(","), ...records.map((r) => columns.map((c) => csvField(r[c])).join(","))].join("\n");
}

/** The results CSV: per-chain accuracies joined with ';'. */
export function resultsCsv(rows: readonly ResultRow[]): string {
  return toCsv(
    RESULT_CSV_COLUMNS,
    rows.map((r) => ({ ...r, accuracies: r.accuracies.join(";") })),
  );
}
