/**
 * The accountant page's numbers, computed by @unlearn/accountant with a dataset's constants from
 * @unlearn/core, exactly as `pnpm accountant k --dataset NAME --smoothness S --granularity G` does.
 */
import {
  type AccountantConstants,
  AccountantError,
  epsilon0,
  epsilonStar,
  sigmaFor,
  stepsFor,
} from "@unlearn/accountant";
import type { AccountantInput, AccountantView } from "../lib/services.ts";

/** The datasets offered by name (any `synthetic?…` spec is accepted too). */
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

/** Constants per (dataset, smoothness): loading MNIST and its λ_max takes a second, so once is enough. */
const cache = new Map<string, Promise<DatasetConstants>>();

async function constantsOf(dataset: string, smoothness: "data" | "bound"): Promise<DatasetConstants> {
  const key = `${dataset}\u0000${smoothness}`;
  let found = cache.get(key);
  if (!found) {
    found = (async () => {
      const core = await import("@unlearn/core");
      const ds = await core.loadDataset(dataset);
      const k = core.datasetConstants(ds, { lambda: 1e-6, smoothness });
      return { n: k.n, m: k.m, L: k.L, M: k.clip, delta: k.delta, d: k.d };
    })();
    cache.set(key, found);
    found.catch(() => cache.delete(key));
  }
  return found;
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
  let c: DatasetConstants;
  try {
    c = await constantsOf(input.dataset, input.smoothness);
  } catch (error) {
    throw new AccountantInputError(`dataset "${input.dataset}": ${(error as Error).message}`);
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
