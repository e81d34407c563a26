/** Validation and small helpers shared by the Store's modules: every input is checked at this boundary. */
import type { SweepLabels } from "./store-types.ts";

/** Rows per INSERT / ids per IN (…): far below Postgres' 65535 bind parameters per statement. */
const CHUNK = 1000;
export const LABEL_KEYS = ["epsilon", "alpha", "K", "epsilon0", "batch"] as const;

export function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/** JSON for a jsonb column: bigints (a JobSpec's uint64 seed) become decimal strings, as protobuf JSON writes them. */
export function jsonValue(value: unknown, what: string): unknown {
  try {
    return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) ?? "null");
  } catch (error) {
    throw new Error(`${what} is not JSON-serialisable: ${(error as Error).message}`);
  }
}

export function requireText(value: unknown, what: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new Error(`${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A string that may be empty (a dependency link's figure is ""). */
export function requireString(value: unknown, what: string): string {
  if (typeof value !== "string") throw new Error(`${what} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

export function requireOneOf<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (!allowed.includes(value as T)) {
    throw new Error(`${what} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

export function requireLimit(value: unknown, what: string): number {
  if (!(typeof value === "number" && Number.isInteger(value) && value > 0))
    throw new Error(`${what}: limit must be a positive integer, got ${JSON.stringify(value)}`);
  return value;
}

export function labelsValue(labels: SweepLabels, what: string): SweepLabels {
  if (labels === null || typeof labels !== "object") throw new Error(`${what} must be an object`);
  const out: SweepLabels = {};
  for (const key of Object.keys(labels)) {
    if (!(LABEL_KEYS as readonly string[]).includes(key)) {
      throw new Error(`${what}.${key} is not a label: expected ${LABEL_KEYS.join(", ")}`);
    }
  }
  for (const key of LABEL_KEYS) {
    const v = labels[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new Error(`${what}.${key} must be a finite number or null, got ${JSON.stringify(v)}`);
    }
    out[key] = v;
  }
  return out;
}

/** The SQLSTATE of a driver error, looking through Drizzle's DrizzleQueryError wrapper. */
export function sqlState(error: unknown): string | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  }
  return undefined;
}

/** Mean and population standard deviation (ddof = 0, as numpy's std) of the chains' accuracies. */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / values.length) };
}
