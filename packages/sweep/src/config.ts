/**
 * Sweep configs: the JSON files of sweeps/ (one paper figure each, or a user's own grid).
 *
 * A config is a discriminated union on `figure`; every object is strict, so a misspelt field is an
 * error rather than a silently ignored setting. Errors are formatted here (not zod's defaults) so
 * each one names the field path, the value given and what is allowed.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { z } from "zod";

export const FIGURES = ["fig3a", "fig3b", "fig3c", "fig4", "fig5"] as const;
export type Figure = (typeof FIGURES)[number];
export const ENGINES = ["onnx", "tfjs", "reference", "webgpu"] as const;
export const NAMED_DATASETS = ["mnist-3v8", "cifar10-3v8", "cifar10-multi"] as const;
/** Datasets read from a user-provided features file (docs/science.md §1): they need `featuresDir`. */
export const FEATURE_DATASETS: readonly string[] = ["cifar10-3v8", "cifar10-multi"];

/** The smoothness constant L a dataset is run with unless told otherwise (the paper's, too); `pnpm accountant --dataset` uses the same. */
export const DEFAULT_SMOOTHNESS = "data" as const;

const positive = z.number().positive().finite();
const positiveInt = z.number().int().min(1);
const grid = <T extends z.ZodType>(item: T) => z.array(item).min(1);

const dataset = z
  .string()
  .refine((s) => (NAMED_DATASETS as readonly string[]).includes(s) || s.startsWith("synthetic?"), {
    message: `expected one of ${NAMED_DATASETS.map((d) => `"${d}"`).join(" | ")} | "synthetic?n=…&d=…&test=…&classes=…&seed=…"`,
  });

/** Fields shared by every figure; defaults are the paper's settings (docs/science.md §6). */
const common = {
  name: z.string().min(1),
  dataset,
  featuresDir: z.string().min(1).optional(),
  /**
   * The features by their content key (featuresKey of @unlearn/core) instead of a folder: what a sweep
   * sent to a coordinator carries, which finds the folder among those its operator registered.
   */
  featuresKey: z
    .string()
    .regex(/^[0-9a-f]{64}$/, { message: "expected the 64 hex digits of a features content key" })
    .optional(),
  lambda: positive.default(1e-6),
  smoothness: z.enum(["data", "bound"]).default(DEFAULT_SMOOTHNESS),
  chains: positiveInt.default(100),
  burnIn: positiveInt.default(10000),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  engine: z.enum(ENGINES).default("onnx"),
  /** Rényi orders searched by the accountant; omitted: the accountant's default for each question. */
  alphaRange: z
    .strictObject({ min: z.number().min(1), max: positive })
    .refine((r) => r.max > r.min, { message: "expected max > min" })
    .optional(),
  /** K is searched on the grid 1, 1+g, 1+2g, … (the paper's Figures 4–5 used 10). */
  granularity: positiveInt.optional(),
  /** Keep every job's chains in the database, not only those a job of the plan starts from (not in the sweep id). */
  keepChains: z.boolean().optional(),
};

const fig3a = z.strictObject({
  ...common,
  figure: z.literal("fig3a"),
  epsilons: grid(positive),
  /** Unlearning steps k; σ = σ*(ε, k) per point. */
  ks: grid(positiveInt),
  /** D2D unlearning steps I. */
  d2dSteps: grid(positiveInt),
  removals: positiveInt.default(1),
});

const fig3b = z
  .strictObject({
    ...common,
    figure: z.literal("fig3b"),
    total: positiveInt,
    batches: grid(positiveInt),
    epsilon: positive,
    sigma: positive,
    d2dFactors: grid(positive),
  })
  .superRefine((c, ctx) => {
    c.batches.forEach((b, i) => {
      if (c.total % b !== 0)
        ctx.addIssue({
          code: "custom",
          path: ["batches", i],
          input: b,
          message: `batch size ${b} does not divide total ${c.total}`,
        });
    });
  });

const fig3c = z.strictObject({
  ...common,
  figure: z.literal("fig3c"),
  sigmas: grid(positive),
  removals: positiveInt,
  epsilon: positive,
});

const fig4 = z.strictObject({
  ...common,
  figure: z.literal("fig4"),
  epsilons: grid(positive),
  removals: grid(positiveInt),
  sigma: positive,
});

const fig5 = z.strictObject({
  ...common,
  figure: z.literal("fig5"),
  removals: grid(positiveInt),
  epsilons: grid(positive),
  sigma: positive,
});

const SHAPES = { fig3a, fig3b, fig3c, fig4, fig5 } as const;
export const sweepConfigSchema = z.discriminatedUnion("figure", [fig3a, fig3b, fig3c, fig4, fig5]);
export type SweepConfig = z.infer<typeof sweepConfigSchema>;
export type ConfigOf<F extends Figure> = Extract<SweepConfig, { figure: F }>;

/** Command-line overrides (`--chains` …), applied to the raw JSON and validated with it. */
export interface ConfigOverrides {
  chains?: number;
  burnIn?: number;
  seed?: number;
  dataset?: string;
  featuresDir?: string;
  engine?: string;
  keepChains?: boolean;
}
const OVERRIDE_FLAGS: Record<keyof ConfigOverrides, string> = {
  chains: "--chains",
  burnIn: "--burn-in",
  seed: "--seed",
  dataset: "--dataset",
  featuresDir: "--features-dir",
  engine: "--engine",
  keepChains: "--keep-chains",
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function fieldName(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(config)";
  return path.map((k, i) => (typeof k === "number" ? `[${k}]` : `${i ? "." : ""}${String(k)}`)).join("");
}

function allowedFields(input: unknown): string[] {
  const figure = valueAt(input, ["figure"]);
  const shape = SHAPES[figure as Figure];
  if (!shape) return [];
  return Object.keys(shape.shape);
}

/** One line per problem: `field: what is wrong (got value)`, naming the flag when it was an override. */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  fromFlags: Set<string> = new Set(),
) {
  return issues.map((issue) => {
    const field = fieldName(issue.path);
    const flag = fromFlags.has(String(issue.path[0]))
      ? ` (from ${OVERRIDE_FLAGS[issue.path[0] as keyof ConfigOverrides]})`
      : "";
    const got = valueAt(input, issue.path);
    const gotText = got === undefined ? "missing" : `got ${JSON.stringify(got)}`;
    switch (issue.code) {
      case "unrecognized_keys": {
        // Listing the figure's fields helps with a typo at the top level; nested objects are small.
        const allowed = issue.path.length === 0 ? allowedFields(input) : [];
        return `${fieldName([...issue.path, issue.keys[0]!])}${issue.keys.length > 1 ? ` (and ${issue.keys.slice(1).join(", ")})` : ""}: unknown field${allowed.length ? `; allowed fields: ${allowed.join(", ")}` : ""}`;
      }
      case "invalid_union":
        if ("discriminator" in issue && issue.discriminator)
          return `${field}: expected one of ${FIGURES.map((f) => `"${f}"`).join(" | ")} (${gotText})`;
        return `${field}: ${issue.message} (${gotText})${flag}`;
      case "invalid_value":
        return `${field}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(" | ")} (${gotText})${flag}`;
      default: {
        const message = issue.message.replace(/^Invalid input: /, "").replace(/^Too (small|big): /, "");
        return `${field}: ${message} (${gotText})${flag}`;
      }
    }
  });
}

/**
 * A --dataset override changes the data, so the sweep's name must say so too: the file's dataset in
 * the name is replaced by the new one ("mnist-3v8 fig5" → "synthetic?… fig5"), or, when the name does
 * not mention it, the new dataset is added in parentheses.
 */
function renameForDataset(merged: Record<string, unknown>, original: unknown): void {
  const { name, dataset } = merged;
  if (typeof name !== "string" || typeof dataset !== "string" || dataset === original) return;
  merged.name =
    typeof original === "string" && original !== "" && name.includes(original)
      ? name.replace(original, dataset)
      : `${name} (${dataset})`;
}

/** Validates a parsed JSON value; `source` (a file name) prefixes every error. */
export function parseConfig(input: unknown, source = "config", overrides: ConfigOverrides = {}): SweepConfig {
  const merged =
    input !== null && typeof input === "object" && !Array.isArray(input)
      ? { ...(input as Record<string, unknown>) }
      : input;
  const fromFlags = new Set<string>();
  if (merged && typeof merged === "object") {
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) continue;
      (merged as Record<string, unknown>)[key] = value;
      fromFlags.add(key);
    }
    renameForDataset(merged as Record<string, unknown>, (input as Record<string, unknown>).dataset);
  }
  const result = sweepConfigSchema.safeParse(merged);
  if (!result.success) {
    const lines = formatIssues(result.error.issues, merged, fromFlags);
    throw new ConfigError(`${source}: invalid sweep config:\n  ${lines.join("\n  ")}`);
  }
  return result.data;
}

/** The repository's sweeps/ folder: the nearest `sweeps` directory at or above `from`. */
export function findSweepsDir(from = process.cwd()): string | undefined {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const candidate = join(dir, "sweeps");
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Where a config argument points: a path as given, or a preset name (`fig5`, `fig5.json`) in sweeps/. */
export function resolveConfigPath(pathOrName: string, cwd = process.cwd()): string {
  const direct = resolve(cwd, pathOrName);
  if (existsSync(direct)) return direct;
  const looked = [direct];
  if (!pathOrName.includes("/") && !pathOrName.includes("\\")) {
    const sweeps = findSweepsDir(cwd);
    if (sweeps) {
      const file = join(sweeps, pathOrName.endsWith(".json") ? pathOrName : `${pathOrName}.json`);
      if (existsSync(file)) return file;
      looked.push(file);
    }
  }
  throw new ConfigError(`config file "${pathOrName}" not found (looked for ${looked.join(", ")})`);
}

export interface LoadedConfig {
  config: SweepConfig;
  /** Absolute path of the file read. */
  path: string;
}

/**
 * Reads, validates and completes a config file. `featuresDir` is resolved (relative to the config
 * file, or to the working directory when it came from --features-dir) and must exist for the
 * datasets that read features.
 */
export function loadConfig(
  pathOrName: string,
  overrides: ConfigOverrides = {},
  cwd = process.cwd(),
): LoadedConfig {
  const path = resolveConfigPath(pathOrName, cwd);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(`${path}: not valid JSON: ${(error as Error).message}`);
  }
  const config = parseConfig(raw, path, overrides);
  if (config.featuresDir !== undefined) {
    const base = overrides.featuresDir !== undefined ? cwd : dirname(path);
    config.featuresDir = isAbsolute(config.featuresDir)
      ? config.featuresDir
      : resolve(base, config.featuresDir);
  }
  checkFeatures(config, path);
  return { config, path };
}

/** CIFAR-10 datasets read precomputed ResNet-18 features that cannot be made here (docs/science.md §1). */
export function checkFeatures(config: SweepConfig, source = "config"): void {
  if (!FEATURE_DATASETS.includes(config.dataset)) return;
  if (config.featuresDir === undefined && config.featuresKey !== undefined)
    throw new ConfigError(
      `${source}: featuresKey: only a coordinator resolves a content key (to a folder its operator registered); here pass --features-dir PATH`,
    );
  if (config.featuresDir === undefined)
    throw new ConfigError(
      `${source}: featuresDir: required for dataset "${config.dataset}" (a folder with the ResNet-18 features of CIFAR-10; set it in the config or pass --features-dir)`,
    );
  if (!existsSync(config.featuresDir) || !statSync(config.featuresDir).isDirectory())
    throw new ConfigError(
      `${source}: featuresDir: "${config.featuresDir}" does not exist (dataset "${config.dataset}" reads its ResNet-18 features from there; pass --features-dir PATH to point elsewhere)`,
    );
}
