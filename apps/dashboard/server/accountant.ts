/**
 * The accountant page's numbers, computed by @unlearn/accountant with a dataset's constants from
 * @unlearn/core, exactly as `pnpm accountant k --dataset NAME --smoothness S --granularity G` does.
 *
 * Its dataset comes from a URL anyone who reaches the dashboard can send, so only these are loaded:
 * the built-in datasets, features datasets by content key (the operator's FEATURES_DIRS, as on the
 * coordinator; never a path, which would probe the filesystem), and synthetic ones within size bounds.
 * At most a few loads run at a time and a few results are kept.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, isAbsolute, join } from "node:path";
import {
  type AccountantConstants,
  AccountantError,
  epsilon0,
  epsilonStar,
  sigmaFor,
  stepsFor,
} from "@unlearn/accountant";
import type { AccountantInput, AccountantView } from "../lib/services.ts";

/** The datasets offered by name (bounded `synthetic?…` specs and features by key are accepted too). */
export const KNOWN_DATASETS = [
  "mnist-3v8",
  "cifar10-3v8",
  "cifar10-multi",
  "synthetic?n=2000&d=32&test=500&classes=2&seed=1",
];

/** A bad request: the field and why (the API answers 400 with it). */
export class AccountantInputError extends Error {
  override name = "AccountantInputError";
}

type DatasetConstants = AccountantConstants & { d: number };

/** Bounds on a synthetic dataset: its matrices stay under ~40 MB and build in about a second. */
export const SYNTHETIC_LIMITS = { n: 100_000, d: 4096, test: 100_000, cells: 5_000_000, classes: 100 };
/** How many (dataset, smoothness) results are kept, and how many loads may run or wait. */
const CACHE_ENTRIES = 16;
const MAX_LOADS = 4;

/** Refused: more loads running and waiting than MAX_LOADS (the API answers 503). */
export class AccountantBusyError extends Error {
  override name = "AccountantBusyError";
}

/** What to load for an accepted dataset: the spec for loadDataset, and whether its λ_max may be cached. */
interface Accepted {
  spec: string;
  /** false: a throwaway cache directory (a synthetic spec per request must not grow ~/.cache) */
  persistent: boolean;
}

const KEY = /^[0-9a-f]{64}$/;

/**
 * The dataset named by `dataset`, if the dashboard loads it; an AccountantInputError naming the field
 * otherwise. `features(key)` gives the folder the operator registered for a content key.
 */
export async function acceptDataset(
  dataset: string,
  features: (key: string) => Promise<string | undefined>,
): Promise<Accepted> {
  if (dataset === "mnist-3v8") return { spec: dataset, persistent: true };
  const q = dataset.indexOf("?");
  const base = q < 0 ? dataset : dataset.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : dataset.slice(q + 1));
  if (base === "synthetic") return { spec: boundedSynthetic(params), persistent: false };
  if (base === "cifar10-3v8" || base === "cifar10-multi" || base === "features") {
    const key = params.get("key") ?? "";
    const allowed = base === "features" ? ["key", "classes", "binary"] : ["key"];
    const extra = [...params.keys()].find((k) => !allowed.includes(k));
    if (extra !== undefined || !KEY.test(key)) {
      throw new AccountantInputError(
        `dataset: ${base} is named by the content key of its features (${base}?key=<64 hex digits>${base === "features" ? "&classes=C" : ""}), not by a folder`,
      );
    }
    const dir = await features(key);
    if (dir === undefined) {
      throw new AccountantInputError(
        `dataset: features ${key} are not served here (the operator lists folders in FEATURES_DIRS)`,
      );
    }
    params.delete("key");
    params.set("dir", dir);
    return { spec: `${base}?${params}`, persistent: true };
  }
  throw new AccountantInputError(
    `dataset: expected mnist-3v8, cifar10-3v8?key=…, cifar10-multi?key=…, features?key=…&classes=C or synthetic?n=…&d=…`,
  );
}

/** A synthetic spec within SYNTHETIC_LIMITS, its parameters in a fixed order. */
function boundedSynthetic(params: URLSearchParams): string {
  const known = ["n", "d", "test", "classes", "seed", "sep"];
  const extra = [...params.keys()].find((k) => !known.includes(k));
  if (extra !== undefined) throw new AccountantInputError(`dataset: synthetic has no parameter "${extra}"`);
  const int = (name: "n" | "d" | "test" | "classes", fallback: number | null, min: number) => {
    const raw = params.get(name);
    if (raw === null && fallback !== null) return fallback;
    const v = Number(raw);
    if (raw === null || !/^\d+$/.test(raw) || v < min || v > SYNTHETIC_LIMITS[name]) {
      throw new AccountantInputError(
        `dataset: synthetic ${name} must be an integer from ${min} to ${SYNTHETIC_LIMITS[name]}, got ${JSON.stringify(raw)}`,
      );
    }
    return v;
  };
  const n = int("n", null, 1);
  const d = int("d", null, 1);
  const test = int("test", 0, 0);
  const classes = int("classes", 2, 2);
  if ((n + test) * d > SYNTHETIC_LIMITS.cells) {
    throw new AccountantInputError(
      `dataset: synthetic (n + test) × d must be at most ${SYNTHETIC_LIMITS.cells}, got ${(n + test) * d}`,
    );
  }
  const seed = params.get("seed") ?? "0";
  if (!/^[\w.-]{1,64}$/.test(seed)) {
    throw new AccountantInputError(
      "dataset: synthetic seed must be 1 to 64 letters, digits, '_', '.' or '-'",
    );
  }
  const sep = params.get("sep");
  if (sep !== null && !/^\d{1,3}(\.\d{1,6})?$/.test(sep)) {
    throw new AccountantInputError(
      `dataset: synthetic sep must be a number from 0 to 999, got ${JSON.stringify(sep)}`,
    );
  }
  return `synthetic?n=${n}&d=${d}&test=${test}&classes=${classes}&seed=${seed}${sep === null ? "" : `&sep=${sep}`}`;
}

/** The operator's features folders by content key (FEATURES_DIRS, ":"-separated), hashed once. */
let registry: Promise<Map<string, string>> | undefined;

function registeredFeatures(key: string): Promise<string | undefined> {
  registry ??= (async () => {
    const core = await import("@unlearn/core");
    const map = new Map<string, string>();
    for (const dir of (process.env.FEATURES_DIRS ?? "").split(delimiter).filter((d) => d.trim() !== "")) {
      if (isAbsolute(dir)) map.set(await core.featuresKey(dir).catch(() => ""), dir);
    }
    map.delete("");
    return map;
  })();
  return registry.then((m) => m.get(key));
}

/** Constants per (dataset, smoothness), the last CACHE_ENTRIES kept: loading MNIST takes a second. */
const cache = new Map<string, Promise<DatasetConstants>>();
let loads = 0;

async function constantsOf(dataset: Accepted, smoothness: "data" | "bound"): Promise<DatasetConstants> {
  const key = `${dataset.spec}\u0000${smoothness}`;
  const found = cache.get(key);
  if (found) {
    cache.delete(key); // most recently used goes last
    cache.set(key, found);
    return found;
  }
  if (loads >= MAX_LOADS)
    throw new AccountantBusyError("the accountant is busy loading datasets: try again shortly");
  loads++;
  const loading = load(dataset, smoothness).finally(() => loads--);
  cache.set(key, loading);
  loading.catch(() => cache.delete(key));
  while (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  return loading;
}

async function load(dataset: Accepted, smoothness: "data" | "bound"): Promise<DatasetConstants> {
  const core = await import("@unlearn/core");
  const scratch = dataset.persistent ? undefined : mkdtempSync(join(tmpdir(), "unlearn-accountant-"));
  try {
    const ds = await core.loadDataset(dataset.spec, scratch ? { cacheDir: scratch } : {});
    const k = core.datasetConstants(ds, { lambda: 1e-6, smoothness });
    return { n: k.n, m: k.m, L: k.L, M: k.clip, delta: k.delta, d: k.d };
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

function positive(name: string, value: number, integer = false): void {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new AccountantInputError(
      `${name} must be a positive ${integer ? "integer" : "number"}, got ${value}`,
    );
  }
}

/** K, α, ε0, σ* for the inputs, and ε after k steps for k = 0 … about 1.5 K. */
export async function computeAccountant(input: AccountantInput): Promise<AccountantView> {
  positive("epsilon", input.epsilon);
  positive("sigma", input.sigma);
  positive("removals", input.removals, true);
  positive("granularity", input.granularity, true);
  positive("targetK", input.targetK, true);
  if (!input.dataset.trim()) throw new AccountantInputError("dataset must be named");
  if (input.dataset.length > 512) throw new AccountantInputError("dataset: longer than 512 characters");
  const accepted = await acceptDataset(input.dataset, registeredFeatures);
  let c: DatasetConstants;
  try {
    c = await constantsOf(accepted, input.smoothness);
  } catch (error) {
    if (error instanceof AccountantBusyError) throw error;
    const message = (error as Error).message;
    if (!accepted.spec.includes("dir="))
      throw new AccountantInputError(`dataset "${input.dataset}": ${message}`);
    // A registered features folder's error names a path of this host: logged here, not sent.
    process.stderr.write(`dashboard: accountant: ${accepted.spec}: ${message}\n`);
    throw new AccountantInputError(
      `dataset "${input.dataset}": could not be loaded (see the dashboard's log)`,
    );
  }
  try {
    const steps = stepsFor(input.epsilon, input.sigma, input.removals, c, { granularity: input.granularity });
    const zero = epsilon0(input.sigma, input.removals, c);
    let sigmaStar: number | null = null;
    let sigmaStarError: string | null = null;
    try {
      sigmaStar = sigmaFor(input.epsilon, input.targetK, c).sigma;
    } catch (error) {
      if (!(error instanceof AccountantError)) throw error;
      sigmaStarError = error.message;
    }
    const last = Math.max(10, Math.ceil(steps.K * 1.5));
    const ks = [...new Set(Array.from({ length: 61 }, (_, i) => Math.round((i * last) / 60)))];
    const curve = ks.map((k) => ({ k, epsilon: epsilonStar(k, input.sigma, input.removals, c).epsilon }));
    return {
      dataset: input.dataset,
      constants: { n: c.n, d: c.d, L: c.L, M: c.M, m: c.m, delta: c.delta },
      K: steps.K,
      alpha: steps.alpha,
      epsilonAtK: steps.epsilon,
      epsilon0: zero.epsilon0,
      alpha0: zero.alpha,
      sigmaStar,
      sigmaStarError,
      targetK: input.targetK,
      curve,
    };
  } catch (error) {
    if (error instanceof AccountantError) throw new AccountantInputError(error.message);
    throw error;
  }
}
