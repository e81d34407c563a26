/** The accountant page's inputs from URL parameters (shared by the page and its API). */
import type { AccountantInput } from "./services.ts";

export const ACCOUNTANT_DEFAULTS = {
  dataset: "mnist-3v8",
  epsilon: "1",
  sigma: "0.03",
  S: "100",
  granularity: "1",
  smoothness: "data",
  targetK: "2",
} as const;

type Params = Record<string, string | string[] | undefined> | URLSearchParams;

export function accountantRaw(params: Params): Record<keyof typeof ACCOUNTANT_DEFAULTS, string> {
  const get = (name: keyof typeof ACCOUNTANT_DEFAULTS) => {
    const v = params instanceof URLSearchParams ? params.get(name) : params[name];
    const one = Array.isArray(v) ? v[0] : v;
    return one === undefined || one === null || one === "" ? ACCOUNTANT_DEFAULTS[name] : one;
  };
  return {
    dataset: get("dataset"),
    epsilon: get("epsilon"),
    sigma: get("sigma"),
    S: get("S"),
    granularity: get("granularity"),
    smoothness: get("smoothness"),
    targetK: get("targetK"),
  };
}

/** Parsed and checked inputs, or the first bad field with why. */
export function accountantInput(
  params: Params,
): { ok: true; input: AccountantInput } | { ok: false; error: string } {
  const raw = accountantRaw(params);
  const number = (name: keyof typeof raw, integer: boolean) => {
    const v = Number(raw[name]);
    if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
      throw new Error(`${name}: expected a positive ${integer ? "integer" : "number"}, got "${raw[name]}"`);
    }
    return v;
  };
  try {
    if (raw.smoothness !== "data" && raw.smoothness !== "bound") {
      throw new Error(`smoothness: expected "data" or "bound", got "${raw.smoothness}"`);
    }
    return {
      ok: true,
      input: {
        dataset: raw.dataset,
        epsilon: number("epsilon", false),
        sigma: number("sigma", false),
        removals: number("S", true),
        granularity: number("granularity", true),
        smoothness: raw.smoothness,
        targetK: number("targetK", true),
      },
    };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}
