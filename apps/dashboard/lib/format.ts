/** Formatting shared by the pages and the live components (plain functions, safe in the browser). */

/** 75 → "1m15s"; null or not finite → "–". */
export function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** At most `digits` significant digits, no trailing zeros; null as a dash. */
export function num(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined) return "–";
  if (value === 0 || !Number.isFinite(value)) return String(value);
  return String(Number(value.toPrecision(digits)));
}

/** "2026-11-27 16:35:03 UTC" from an ISO string (UTC, so server and browser print the same). */
export function when(iso: string): string {
  return `${iso.slice(0, 19).replace("T", " ")} UTC`;
}
