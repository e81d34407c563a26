/**
 * The planner: a sweep config becomes a DAG of content-addressed jobs (docs/science.md §4, §6).
 *
 * Pure and deterministic: the same config and dataset facts give the same jobs, ids and links, so a
 * rerun finds its own sweep and every stored result again. A job's id is `jobId(spec)`, the hash of
 * everything that determines its result; two figures that need the same computation (the learn on D
 * of Figures 4 and 5 at σ = 0.03) plan the same job, and the store keeps one result for it.
 * Edges are `spec.parentId`; `jobs` is in topological order (every parent before its children).
 */
import { createHash } from "node:crypto";
import type * as Accountant from "@unlearn/accountant";
import { NOISE_VERSION } from "@unlearn/core";
import { type Job, JobKind, type JobSpec, jobId, kindName, Smoothness } from "@unlearn/protocol";
import type { ConfigOf, Figure, SweepConfig } from "./config.ts";

/** The accountant functions the planner calls (injected so tests can count or replace them). */
export type AccountantApi = Pick<
  typeof Accountant,
  | "accountantConstants"
  | "stepsFor"
  | "sigmaFor"
  | "epsilon0"
  | "sequentialSchedule"
  | "d2dSigma"
  | "d2dSequential"
>;
type Constants = ReturnType<AccountantApi["accountantConstants"]>;

/** What the planner needs to know about the dataset (from @unlearn/core's loadDataset / datasetConstants). */
export interface DatasetFacts {
  /** training rows */
  n: number;
  /** features per row */
  d: number;
  /** 2 = binary */
  classes: number;
  /** smoothness L for the config's `smoothness` choice */
  L: number;
  /**
   * Features datasets: the content key of `featuresDir` (featuresKey of @unlearn/core). Jobs and the sweep
   * id then hash the key instead of the folder's path (a moved folder keeps its results, regenerated
   * features get new ones); without it the path is hashed, as before the key existed.
   */
  featuresKey?: string;
}

/** What a figure plots besides the job's spec (stored with the sweep↔job link). */
export interface LinkLabels {
  epsilon?: number;
  alpha?: number;
  K?: number;
  epsilon0?: number;
  batch?: number;
}

export interface SweepLink {
  jobId: string;
  /**
   * The figure that draws this job, or "" for a job the sweep needs but its figure does not draw (the
   * learn on D that unlearning starts from): it still belongs to the sweep (progress, results).
   */
  figure: Figure | "";
  series: string;
  labels: LinkLabels;
}

export interface SweepPlan {
  sweepId: string;
  jobs: Job[];
  links: SweepLink[];
  /** Settings that will run but are unlikely to give the paper's numbers (shown to the user). */
  warnings: string[];
}

export class PlanError extends Error {
  override name = "PlanError";
}

/** Deterministic JSON: object keys sorted, so the same config always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * The sweep id: a hash of the normalised config without `engine`, which (like a job's engine) does not
 * change what is computed, so rerunning a config on another engine resumes the same sweep; nor
 * `keepChains`, which only says what is kept.
 */
export function sweepIdOf(config: SweepConfig, featuresKey?: string): string {
  const { engine: _engine, keepChains: _keepChains, ...rest } = config;
  // With a content key, the features folder is identified by what it holds, not where it lies.
  const keyed = featuresKey ? { ...rest, featuresDir: undefined, featuresKey } : rest;
  // The noise definition too: a sweep rerun under another one is another sweep, and links no old result.
  return createHash("sha256")
    .update(canonicalJson({ ...keyed, noise: NOISE_VERSION }))
    .digest("hex")
    .slice(0, 16);
}

/** Accumulates jobs (deduplicated by id, in insertion = topological order) and links. */
class PlanBuilder {
  readonly jobs = new Map<string, Job>();
  readonly links: SweepLink[] = [];
  private readonly linkKeys = new Set<string>();

  constructor(
    private readonly config: SweepConfig,
    private readonly sweepId: string,
    private readonly featuresKey: string,
  ) {}

  job(
    kind: JobKind,
    fields: { sigma: number; steps: number; removals?: number; parent?: Job; publishSigma?: number },
  ): Job {
    const c = this.config;
    const spec: JobSpec = {
      kind,
      dataset: c.dataset,
      featuresPath: c.featuresDir ?? "",
      lambda: c.lambda,
      smoothness: c.smoothness === "data" ? Smoothness.SMOOTHNESS_DATA : Smoothness.SMOOTHNESS_BOUND,
      sigma: fields.sigma,
      steps: fields.steps,
      chains: c.chains,
      seed: BigInt(c.seed),
      removals: fields.removals ?? 0,
      parentId: fields.parent?.id ?? "",
      publishSigma: fields.publishSigma ?? 0,
      featuresKey: c.featuresDir ? this.featuresKey : "",
      noise: NOISE_VERSION,
    };
    if (fields.parent && !this.jobs.has(fields.parent.id))
      throw new PlanError(`parent ${fields.parent.id} not planned`);
    const id = jobId(spec);
    const existing = this.jobs.get(id);
    if (existing) return existing;
    const job: Job = { id, spec, sweepId: this.sweepId, attempt: 0, engine: c.engine, device: "cpu" };
    this.jobs.set(id, job);
    return job;
  }

  /** Learning on the original D from scratch with the sweep's burn-in (shared by every figure). */
  learnOnD(sigma: number): Job {
    return this.job(JobKind.JOB_KIND_LEARN, { sigma, steps: this.config.burnIn });
  }

  d2dLearnOnD(): Job {
    return this.job(JobKind.JOB_KIND_D2D_LEARN, { sigma: 0, steps: this.config.burnIn });
  }

  link(job: Job, series: string, labels: LinkLabels = {}, figure: Figure | "" = this.config.figure): void {
    // A link is one point of a series: the same job may be several points (Figure 4's S = 1 job, K = 1
    // for every ε), as the store keys links by (sweep, job, series, labels).
    const key = `${job.id}\u0000${series}\u0000${canonicalJson(labels)}`;
    if (this.linkKeys.has(key)) return;
    this.linkKeys.add(key);
    this.links.push({ jobId: job.id, figure, series, labels });
  }

  /** A job the figure does not draw (see SweepLink.figure). */
  dependency(job: Job, series: string, labels: LinkLabels = {}): void {
    this.link(job, series, labels, "");
  }
}

function alphaRange(config: SweepConfig): Accountant.AlphaRange | undefined {
  return config.alphaRange ? { alphaMin: config.alphaRange.min, alphaMax: config.alphaRange.max } : undefined;
}

/** Runs an accountant query, naming the grid point when it fails (e.g. an ε below the reachable floor). */
function ask<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw new PlanError(`${what}: ${(error as Error).message}`);
  }
}

/**
 * The removal counts of a grid that the training set can hold (S < n). A preset run on a smaller
 * dataset (`--dataset synthetic?n=500` on Figure 5's S up to 1000) keeps the points it can make and
 * says which it dropped (removalWarnings); a grid with none left is an error.
 */
function feasibleRemovals(removals: readonly number[], facts: DatasetFacts): number[] {
  const kept = removals.filter((S) => S < facts.n);
  if (kept.length === 0) checkRemovals(facts, Math.min(...removals), "removals");
  return kept;
}

function removalWarnings(config: SweepConfig, facts: DatasetFacts): string[] {
  if (config.figure !== "fig4" && config.figure !== "fig5") return [];
  const dropped = config.removals.filter((S) => S >= facts.n);
  if (dropped.length === 0 || dropped.length === config.removals.length) return [];
  return [
    `removals ${dropped.join(", ")} left out: the training set of ${config.dataset} has only ${facts.n} rows (S must be below n)`,
  ];
}

function checkRemovals(facts: DatasetFacts, removals: number, field: string): void {
  if (removals >= facts.n)
    throw new PlanError(`${field}: ${removals} removals, but the training set has only ${facts.n} rows`);
}

type Planner<F extends Figure> = (
  b: PlanBuilder,
  config: ConfigOf<F>,
  ctx: { facts: DatasetFacts; c: Constants; acc: AccountantApi },
) => void;

/** Figure 3a: utility at equal privacy; Langevin (σ*(ε, k), k steps) against retraining, noiseless GD, D2D. */
const fig3a: Planner<"fig3a"> = (b, config, { facts, c, acc }) => {
  const S = config.removals;
  checkRemovals(facts, S, "removals");
  const range = alphaRange(config);
  const noiseless = b.learnOnD(0);
  b.link(noiseless, "noiseless (σ=0)");
  const d2dLearn = b.d2dLearnOnD();
  b.dependency(d2dLearn, "D2D learning on D");
  for (const epsilon of config.epsilons) {
    for (const k of config.ks) {
      const { sigma, K } = ask(`fig3a ε=${epsilon}, k=${k}: σ*`, () => acc.sigmaFor(epsilon, k, c, range));
      const learn = b.learnOnD(sigma);
      b.dependency(learn, `learning on D k=${k}`, { epsilon });
      b.link(
        b.job(JobKind.JOB_KIND_UNLEARN, { sigma, steps: K, removals: S, parent: learn }),
        `unlearning k=${k}`,
        {
          epsilon,
          K,
        },
      );
      b.link(
        b.job(JobKind.JOB_KIND_RETRAIN, { sigma, steps: config.burnIn, removals: S }),
        `retraining k=${k}`,
        {
          epsilon,
        },
      );
    }
    for (const I of config.d2dSteps) {
      const publishSigma = ask(`fig3a ε=${epsilon}, I=${I}: D2D noise`, () => acc.d2dSigma(I, epsilon, c));
      const job = b.job(JobKind.JOB_KIND_D2D_UNLEARN, {
        sigma: 0,
        steps: I,
        removals: S,
        parent: d2dLearn,
        publishSigma,
      });
      b.link(job, `D2D I=${I}`, { epsilon, K: I });
    }
  }
};

/** Figure 3b: sequential unlearning of `total` points in batches (Langevin) or one at a time (D2D). */
const fig3b: Planner<"fig3b"> = (b, config, { facts, c, acc }) => {
  const { total, epsilon, sigma } = config;
  checkRemovals(facts, total, "total");
  const range = alphaRange(config);
  const learn = b.learnOnD(sigma);
  for (const batch of config.batches) {
    const series = `Langevin S=${batch}`;
    b.link(learn, series, { epsilon, batch: 0, K: 0 });
    const { k } = ask(`fig3b batch ${batch}: sequential schedule`, () =>
      acc.sequentialSchedule({ sigma, epsilon, batch, total }, c, range),
    );
    let parent = learn;
    // Batch s replaces the last s·batch rows: D'_s extends D'_{s−1} (replacement row j depends on (seed, j) only).
    k.forEach((K, i) => {
      parent = b.job(JobKind.JOB_KIND_UNLEARN, { sigma, steps: K, removals: (i + 1) * batch, parent });
      b.link(parent, series, { epsilon, batch: i + 1, K });
    });
  }
  const d2dLearn = b.d2dLearnOnD();
  // The D2D model dimension: d for binary, d·C for multiclass (W is d×C).
  const dim = facts.classes > 2 ? facts.d * facts.classes : facts.d;
  for (const factor of config.d2dFactors) {
    const series = `D2D f=${factor}`;
    b.link(d2dLearn, series, { epsilon, batch: 0, K: 0 });
    const { I, sigma: noise } = ask(`fig3b D2D f=${factor}`, () =>
      acc.d2dSequential({ d: dim, epsilon, factor, total }, c),
    );
    let parent = d2dLearn;
    I.forEach((steps, i) => {
      // The chain continues from the unpublished iterate (the artifact); only the published copy is noisy.
      parent = b.job(JobKind.JOB_KIND_D2D_UNLEARN, {
        sigma: 0,
        steps,
        removals: i + 1,
        parent,
        publishSigma: noise[i]!,
      });
      b.link(parent, series, { epsilon, batch: i + 1, K: steps });
    });
  }
};

/** Figure 3c: the privacy loss before unlearning ε0(σ) and the utility of learn / unlearn / retrain per σ. */
const fig3c: Planner<"fig3c"> = (b, config, { facts, c, acc }) => {
  const { removals: S, epsilon } = config;
  checkRemovals(facts, S, "removals");
  const range = alphaRange(config);
  for (const sigma of config.sigmas) {
    const { epsilon0 } = ask(`fig3c σ=${sigma}: ε0`, () => acc.epsilon0(sigma, S, c, range));
    const { K, alpha } = ask(`fig3c σ=${sigma}: K`, () =>
      acc.stepsFor(epsilon, sigma, S, c, { granularity: config.granularity, ...range }),
    );
    const learn = b.learnOnD(sigma);
    b.link(learn, "learning", { epsilon0 });
    b.link(b.job(JobKind.JOB_KIND_UNLEARN, { sigma, steps: K, removals: S, parent: learn }), "unlearning", {
      epsilon,
      epsilon0,
      K,
      alpha,
    });
    b.link(b.job(JobKind.JOB_KIND_RETRAIN, { sigma, steps: config.burnIn, removals: S }), "retraining", {
      epsilon0,
    });
  }
};

/** Unlearning jobs with K from the accountant, one per (ε, S), from the learn on D at σ. */
function unlearnGrid(
  b: PlanBuilder,
  config: ConfigOf<"fig4"> | ConfigOf<"fig5">,
  { facts, c, acc }: { facts: DatasetFacts; c: Constants; acc: AccountantApi },
  series: (epsilon: number, S: number) => string,
): void {
  const { sigma } = config;
  const range = alphaRange(config);
  const learn = b.learnOnD(sigma);
  b.dependency(learn, "learning on D");
  for (const S of feasibleRemovals(config.removals, facts)) {
    for (const epsilon of config.epsilons) {
      const { K, alpha } = ask(`${config.figure} ε=${epsilon}, S=${S}: K`, () =>
        acc.stepsFor(epsilon, sigma, S, c, { granularity: config.granularity, ...range }),
      );
      const job = b.job(JobKind.JOB_KIND_UNLEARN, { sigma, steps: K, removals: S, parent: learn });
      b.link(job, series(epsilon, S), { epsilon, K, alpha });
    }
  }
}

/** Figure 4: K(ε, S) and the accuracy of the unlearned chains. */
const fig4: Planner<"fig4"> = (b, config, ctx) => unlearnGrid(b, config, ctx, (_e, S) => `S=${S}`);

/** Figure 5: unlearning per (S, ε) against retraining per S. */
const fig5: Planner<"fig5"> = (b, config, ctx) => {
  unlearnGrid(b, config, ctx, (epsilon) => `unlearning ε=${epsilon}`);
  for (const S of feasibleRemovals(config.removals, ctx.facts))
    b.link(
      b.job(JobKind.JOB_KIND_RETRAIN, { sigma: config.sigma, steps: config.burnIn, removals: S }),
      "retraining",
    );
};

const PLANNERS: { [F in Figure]: Planner<F> } = { fig3a, fig3b, fig3c, fig4, fig5 };

/** The sweep's job DAG and its figure links. */
export function planSweep(config: SweepConfig, facts: DatasetFacts, accountant: AccountantApi): SweepPlan {
  const featuresKey = config.featuresDir ? (facts.featuresKey ?? "") : "";
  const sweepId = sweepIdOf(config, featuresKey);
  const c = accountant.accountantConstants({
    n: facts.n,
    lambda: config.lambda,
    L: facts.L,
    multiclass: facts.classes > 2,
  });
  const b = new PlanBuilder(config, sweepId, featuresKey);
  (PLANNERS[config.figure] as Planner<Figure>)(b, config as ConfigOf<Figure>, { facts, c, acc: accountant });
  const jobs = [...b.jobs.values()];
  return {
    sweepId,
    jobs,
    links: b.links,
    warnings: [
      ...removalWarnings(config, facts),
      ...burnInWarnings(config, facts),
      ...stepsWarnings(config, facts, jobs),
    ],
  };
}

/**
 * The compute rate behind the planner's time estimates: `pnpm bench:step` measured 224 GFLOP/s for
 * one MNIST step of 100 chains on the onnx engine (2-core CPU). Other engines and machines differ, so
 * the estimate only says whether a job takes minutes or days.
 */
export const ESTIMATE_FLOPS_PER_SECOND = 224e9;

/** A job this many times longer than the burn-in (retraining's cost) is called out. */
export const ABSURD_STEPS_FACTOR = 10;

/** Seconds for `steps` steps of `chains` chains: two n×d by d×columns products per step. */
export function estimatedSeconds(steps: number, facts: DatasetFacts, chains: number): number {
  const columns = facts.classes > 2 ? chains * facts.classes : chains;
  return (steps * 4 * facts.n * facts.d * columns) / ESTIMATE_FLOPS_PER_SECOND;
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400 * 2) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

/**
 * K from the accountant grows without bound as ε nears its floor (ε at 1.01× the floor on MNIST gives
 * K = 2,409,371, about 11 h of one job): such a K runs, but is almost certainly not what was meant, and
 * costs far more than retraining. One warning names the longest job, its estimated time and how many
 * jobs are that long.
 */
export function stepsWarnings(config: SweepConfig, facts: DatasetFacts, jobs: readonly Job[]): string[] {
  const limit = ABSURD_STEPS_FACTOR * config.burnIn;
  const long = jobs.filter((j) => j.spec!.steps > limit).sort((a, b) => b.spec!.steps - a.spec!.steps);
  if (long.length === 0) return [];
  const worst = long[0]!.spec!;
  const total = long.reduce((s, j) => s + estimatedSeconds(j.spec!.steps, facts, j.spec!.chains), 0);
  const others =
    long.length > 1
      ? ` (${long.length} jobs above ${limit.toLocaleString("en-US")} steps: ${formatDuration(total)} together)`
      : "";
  return [
    `${kindName(worst.kind)} job with ${worst.steps.toLocaleString("en-US")} steps (σ = ${worst.sigma}, ${worst.removals} removals) ` +
      `is ${Math.round(worst.steps / config.burnIn)}× the burn-in of ${config.burnIn.toLocaleString("en-US")}: about ` +
      `${formatDuration(estimatedSeconds(worst.steps, facts, worst.chains))} at ${ESTIMATE_FLOPS_PER_SECOND / 1e9} GFLOP/s${others}; ` +
      "an ε this close to its floor (or a small σ) makes K explode: retraining is cheaper",
  ];
}

/**
 * A clipped step moves a chain by at most η·M (plus noise), and the paper's binary initialisation
 * w0 ≈ 1000·1 lies ‖1000·1‖ = 1000·√d from the origin, near which the optimum lies. A burn-in shorter
 * than 1000·√d / (η·M) steps cannot reach the optimum: its chains stay where they started (MNIST 3v8:
 * about 5,450 steps; 1,500 leave every chain at 0.49 test accuracy, the share of eights).
 */
export function burnInWarnings(config: SweepConfig, facts: DatasetFacts): string[] {
  if (facts.classes > 2) return []; // multiclass chains start at 0
  const clip = 1;
  const minSteps = Math.ceil((1000 * Math.sqrt(facts.d) * facts.L) / clip);
  if (config.burnIn >= minSteps) return [];
  return [
    `burnIn ${config.burnIn} is below ${minSteps} steps, the least that can carry a chain from the paper's ` +
      `initialisation (‖w0‖ ≈ 1000·√${facts.d}) to the optimum at most η·M = ${(clip / facts.L).toFixed(2)} per step: ` +
      "learning and retraining will not converge and accuracies will not match the paper",
  ];
}
