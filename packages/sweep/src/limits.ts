/**
 * What a coordinator accepts from a remote sweep: upper bounds on jobs, chains, burn-in, grid sizes
 * and a synthetic dataset's n·d, checked before anything is loaded or planned, so one request cannot
 * take the coordinator's memory or time. The operator sets them in the coordinator's environment;
 * every error names the limit, the value asked for, and the variable that raises it.
 */
import { ConfigError, type SweepConfig } from "./config.ts";

export interface RequestLimits {
  /** jobs a sweep may plan (an upper bound is checked before planning, the exact count after) */
  jobs: number;
  chains: number;
  burnIn: number;
  /** entries of any one grid (epsilons, removals, ks, sigmas, batches, …) */
  grid: number;
  /** (training + test rows) × features of a synthetic dataset */
  syntheticCells: number;
  /** fig3b: rows unlearned sequentially (`total`): its D2D series runs one job per row */
  total: number;
}

/** Room for the paper's figures (Figure 5: 29 jobs at 100 chains) many times over, bounded. */
export const DEFAULT_LIMITS: RequestLimits = {
  jobs: 20_000,
  chains: 1_000,
  burnIn: 1_000_000,
  grid: 1_000,
  syntheticCells: 50_000_000,
  total: 10_000,
};

export const LIMIT_ENV: Record<keyof RequestLimits, string> = {
  jobs: "SWEEP_MAX_JOBS",
  chains: "SWEEP_MAX_CHAINS",
  burnIn: "SWEEP_MAX_BURN_IN",
  grid: "SWEEP_MAX_GRID",
  syntheticCells: "SWEEP_MAX_SYNTHETIC_CELLS",
  total: "SWEEP_MAX_TOTAL",
};

export class LimitError extends ConfigError {
  override name = "LimitError";
}

/** The limits from the environment (SWEEP_MAX_*), the defaults for those not set. */
export function requestLimits(env: NodeJS.ProcessEnv = process.env): RequestLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(LIMIT_ENV) as (keyof RequestLimits)[]) {
    const raw = env[LIMIT_ENV[key]];
    if (raw === undefined || raw === "") continue;
    const n = Number(raw.replaceAll("_", ""));
    if (!Number.isSafeInteger(n) || n < 1)
      throw new Error(`${LIMIT_ENV[key]}: expected a positive integer, got ${JSON.stringify(raw)}`);
    limits[key] = n;
  }
  return limits;
}

const GRIDS = ["epsilons", "ks", "d2dSteps", "batches", "d2dFactors", "sigmas", "removals"] as const;

/** An upper bound on the jobs the planner makes of `config` (ids dedupe some), without planning it. */
export function estimateJobs(config: SweepConfig): number {
  switch (config.figure) {
    case "fig3a": {
      const e = config.epsilons.length;
      return 2 + e * config.ks.length * 3 + e * config.d2dSteps.length;
    }
    case "fig3b": {
      const langevin = config.batches.reduce((s, b) => s + Math.ceil(config.total / b), 0);
      return 2 + langevin + config.d2dFactors.length * config.total;
    }
    case "fig3c":
      return 3 * config.sigmas.length;
    case "fig4":
      return 1 + config.epsilons.length * config.removals.length;
    case "fig5":
      return 1 + config.epsilons.length * config.removals.length + config.removals.length;
  }
}

/** (n + test) · d of a synthetic dataset spec, or undefined for a named dataset. */
export function syntheticCells(dataset: string): number | undefined {
  if (!dataset.startsWith("synthetic?")) return undefined;
  const params = new URLSearchParams(dataset.slice("synthetic?".length));
  const int = (name: string) => {
    const n = Number(params.get(name) ?? 0);
    return Number.isFinite(n) ? n : 0;
  };
  return (int("n") + int("test")) * int("d");
}

function over(what: string, value: number, key: keyof RequestLimits, limits: RequestLimits): LimitError {
  const fmt = (n: number) => n.toLocaleString("en-US");
  return new LimitError(
    `${what}: ${fmt(value)} is above this coordinator's limit of ${fmt(limits[key])} ` +
      `(${LIMIT_ENV[key]}; its operator can raise it in the coordinator's environment)`,
  );
}

/** Throws a LimitError naming the first bound `config` exceeds; cheap (nothing is loaded or planned). */
export function checkLimits(config: SweepConfig, limits: RequestLimits): void {
  if (config.chains > limits.chains) throw over("chains", config.chains, "chains", limits);
  if (config.burnIn > limits.burnIn) throw over("burnIn", config.burnIn, "burnIn", limits);
  for (const grid of GRIDS) {
    const list = (config as Record<string, unknown>)[grid];
    if (Array.isArray(list) && list.length > limits.grid)
      throw over(`${grid} (grid entries)`, list.length, "grid", limits);
  }
  if (config.figure === "fig3b" && config.total > limits.total)
    throw over("total", config.total, "total", limits);
  const cells = syntheticCells(config.dataset);
  if (cells !== undefined && cells > limits.syntheticCells)
    throw over(`dataset ${config.dataset}: (n + test) · d`, cells, "syntheticCells", limits);
  const jobs = estimateJobs(config);
  if (jobs > limits.jobs) throw over("jobs the sweep plans (at most)", jobs, "jobs", limits);
}
