/**
 * `pnpm accountant <quantity> [flags]`: the Rényi-DP accountant of docs/science.md §5 from the command line.
 * With --json it prints exactly one JSON object on stdout (nothing else), without it an aligned table.
 * Errors go to stderr: exit code 2 for a bad command line, 1 for a request the accountant refuses.
 */
import {
  type AccountantConstants,
  AccountantError,
  type AlphaRange,
  accountantConstants,
  d2dSequential,
  d2dSigma,
  epsilon0,
  epsilonStar,
  minibatchSequential,
  minibatchStepsFor,
  sequentialSchedule,
  sigmaFor,
  stepsFor,
} from "@unlearn/accountant";
import { EXIT, failure, parseFlags, UsageError, usageFailure } from "../usage.ts";

type OptionSpec = { type: "string" | "boolean"; help: string };

/** Flags every subcommand takes: where the constants come from, the α range, the output format. */
const COMMON: Record<string, OptionSpec> = {
  n: { type: "string", help: "number of training rows (δ = 1/n)" },
  lambda: { type: "string", help: "regularisation λ (default 1e-6); m = λ·n" },
  L: { type: "string", help: "smoothness L (default: the bound 1/4 + λn, or 1 + λn with --multiclass)" },
  multiclass: { type: "boolean", help: "multiclass constants: M = 2, L bound 1 + λn" },
  dataset: {
    type: "string",
    help: "take n, L, M (and d) from a dataset of @unlearn/core instead of --n/--L",
  },
  smoothness: {
    type: "string",
    help: "with --dataset: data | bound (default data: the measured L, as sweeps and the paper use)",
  },
  "features-dir": { type: "string", help: "with --dataset: where the CIFAR-10 feature files are" },
  "alpha-min": { type: "string", help: "lower end of the Rényi orders searched" },
  "alpha-max": { type: "string", help: "upper end of the Rényi orders searched" },
  json: { type: "boolean", help: "print one JSON object instead of a table" },
  help: { type: "boolean", help: "show this help" },
};

interface Subcommand {
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  required: string[];
  /** Default α range shown in help (the library applies it). */
  alphaDefault: string;
  compute(flags: Flags, c: AccountantConstants, range: AlphaRange, d: number | undefined): Output;
}

interface Output {
  json: Record<string, unknown>;
  /** Rows of the readable table: either key/value pairs or a header row followed by rows. */
  table: { headers: string[]; rows: (string | number)[][] };
}

type Flags = Record<string, string | boolean | undefined>;

const SUBCOMMANDS: Record<string, Subcommand> = {
  k: {
    summary: "K(ε, σ, S): the fewest unlearning steps for an (ε, δ) guarantee",
    usage: "k --epsilon E --sigma S --removals R [--granularity G]",
    options: {
      epsilon: { type: "string", help: "target ε" },
      sigma: { type: "string", help: "Langevin noise σ" },
      removals: { type: "string", help: "S, points removed" },
      granularity: {
        type: "string",
        // Users compare this command's K with the figures': say why they differ (1485 vs 1491).
        help: "round K up to the grid 1, 1+G, 1+2G, … (fig4/fig5 presets, as the paper: 10, so 1491 for 1485)",
      },
    },
    required: ["epsilon", "sigma", "removals"],
    alphaDefault: "[1, 1e4]",
    compute(flags, c, range) {
      const granularity = flags.granularity === undefined ? undefined : integer(flags, "granularity");
      const r = stepsFor(number(flags, "epsilon"), number(flags, "sigma"), integer(flags, "removals"), c, {
        ...range,
        granularity,
      });
      return keyValue({ K: r.K, alpha: r.alpha, epsilon: r.epsilon });
    },
  },
  sigma: {
    summary: "σ*(ε, k): the least noise that unlearns one point in k steps",
    usage: "sigma --epsilon E --k K",
    options: {
      epsilon: { type: "string", help: "target ε" },
      k: { type: "string", help: "steps allowed" },
    },
    required: ["epsilon", "k"],
    alphaDefault: "[1, 1e4] (the paper's σ* list used --alpha-min 2)",
    compute(flags, c, range) {
      const r = sigmaFor(number(flags, "epsilon"), integer(flags, "k"), c, range);
      return keyValue({ sigma: r.sigma, K: r.K });
    },
  },
  epsilon0: {
    summary: "ε0(σ, S): the privacy loss before any unlearning step",
    usage: "epsilon0 --sigma S --removals R",
    options: {
      sigma: { type: "string", help: "Langevin noise σ" },
      removals: { type: "string", help: "S, points removed" },
    },
    required: ["sigma", "removals"],
    alphaDefault: "[1, 1e4]",
    compute(flags, c, range) {
      const r = epsilon0(number(flags, "sigma"), integer(flags, "removals"), c, range);
      return keyValue({ epsilon0: r.epsilon0, alpha: r.alpha });
    },
  },
  epsilon: {
    summary: "ε*(K): the guarantee after K unlearning steps, with its α",
    usage: "epsilon --K K --sigma S --removals R",
    options: {
      K: { type: "string", help: "unlearning steps (0: ε0)" },
      sigma: { type: "string", help: "Langevin noise σ" },
      removals: { type: "string", help: "S, points removed" },
    },
    required: ["K", "sigma", "removals"],
    alphaDefault: "[1, 1e4]",
    compute(flags, c, range) {
      const r = epsilonStar(
        integer(flags, "K"),
        number(flags, "sigma"),
        integer(flags, "removals"),
        c,
        range,
      );
      return keyValue({ epsilon: r.epsilon, alpha: r.alpha });
    },
  },
  schedule: {
    summary: "the sequential schedule k_1, k_2, … for removals in batches",
    usage: "schedule --sigma S --epsilon E --batch B --total T",
    options: {
      sigma: { type: "string", help: "Langevin noise σ" },
      epsilon: { type: "string", help: "target ε after every batch" },
      batch: { type: "string", help: "points removed per request" },
      total: { type: "string", help: "points removed in all" },
    },
    required: ["sigma", "epsilon", "batch", "total"],
    alphaDefault: "[2, 1e5]",
    compute(flags, c, range) {
      const batch = integer(flags, "batch");
      const total = integer(flags, "total");
      const r = sequentialSchedule(
        { sigma: number(flags, "sigma"), epsilon: number(flags, "epsilon"), batch, total },
        c,
        range,
      );
      return {
        json: { k: r.k, accumulated: r.accumulated },
        table: {
          headers: ["request", "removed", "k", "accumulated", "alpha", "epsilon"],
          rows: r.k.map((k, i) => [
            i + 1,
            Math.min(total, (i + 1) * batch),
            k,
            r.accumulated[i],
            r.alpha[i],
            r.epsilon[i],
          ]),
        },
      };
    },
  },
  d2d: {
    summary: "σ_D2D(I, ε): the noise Descent-to-Delete publishes after I steps",
    usage: "d2d --I I --epsilon E [--d D]",
    options: {
      I: { type: "string", help: "descent steps on D'" },
      epsilon: { type: "string", help: "target ε" },
      d: { type: "string", help: "model dimension (not used by this formula; accepted for symmetry)" },
    },
    required: ["I", "epsilon"],
    alphaDefault: "(no α: D2D is (ε, δ) directly)",
    compute(flags, c) {
      return keyValue({ sigma: d2dSigma(integer(flags, "I"), number(flags, "epsilon"), c) });
    },
  },
  "d2d-sequential": {
    summary: "sequential D2D: descent steps I_i and noise σ_i for the i-th single removal",
    usage: "d2d-sequential --d D --epsilon E --factor F --total T",
    options: {
      d: { type: "string", help: "model dimension (784 for MNIST, 512 for CIFAR-10 features)" },
      epsilon: { type: "string", help: "target ε" },
      factor: { type: "string", help: "f in I_i = ⌊f·I_min⌋ + …" },
      total: { type: "string", help: "removals, one at a time" },
    },
    required: ["epsilon", "factor", "total"],
    alphaDefault: "(no α: D2D is (ε, δ) directly)",
    compute(flags, c, _range, d) {
      const r = d2dSequential(
        {
          d: requireD(d),
          epsilon: number(flags, "epsilon"),
          factor: number(flags, "factor"),
          total: integer(flags, "total"),
        },
        c,
      );
      return {
        json: { I: r.I, sigma: r.sigma },
        table: { headers: ["removal", "I", "sigma"], rows: r.I.map((I, i) => [i + 1, I, r.sigma[i]]) },
      };
    },
  },
  minibatch: {
    summary:
      "mini-batch noisy SGD (companion paper): epochs K for one request, or a sequence with --requests",
    usage: "minibatch --epsilon E --sigma S --batch B [--requests R]",
    options: {
      epsilon: { type: "string", help: "target ε" },
      sigma: { type: "string", help: "noise σ" },
      batch: { type: "string", help: "batch size b" },
      requests: { type: "string", help: "number of sequential requests (default: one)" },
    },
    required: ["epsilon", "sigma", "batch"],
    alphaDefault: "[1, 1e4]",
    compute(flags, c, range) {
      const epsilon = number(flags, "epsilon");
      const sigma = number(flags, "sigma");
      const batch = integer(flags, "batch");
      if (flags.requests === undefined) {
        const r = minibatchStepsFor(epsilon, sigma, batch, c, range);
        return keyValue({ K: r.K, alpha: r.alpha, epsilon: r.epsilon });
      }
      const r = minibatchSequential(
        { sigma, epsilon, batch, requests: integer(flags, "requests") },
        c,
        range,
      );
      return {
        json: { k: r.k, accumulated: r.accumulated, Z: r.Z },
        table: {
          headers: ["request", "k", "accumulated", "Z", "alpha", "epsilon"],
          rows: r.k.map((k, i) => [i + 1, k, r.accumulated[i], r.Z[i], r.alpha[i], r.epsilon[i]]),
        },
      };
    },
  },
};

/** A bad command line (exit code 2), as opposed to a request the accountant refuses (exit code 1). */

/** The flag that carries each field the accountant may name in an AccountantError. */
const FIELD_TO_FLAG: Record<string, string> = { alphaMin: "alpha-min", alphaMax: "alpha-max" };

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h") {
    if (name === undefined)
      return usageFailure("pnpm accountant", "no quantity given (k, sigma, epsilon0, …)");
    console.log(topUsage());
    return EXIT.ok;
  }
  // An own property only: "constructor" is not a quantity.
  const sub = Object.hasOwn(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
  if (sub === undefined) {
    return usageFailure(
      "pnpm accountant",
      `unknown accountant quantity "${name}" (quantities: ${Object.keys(SUBCOMMANDS).join(", ")})`,
    );
  }
  const command = `pnpm accountant ${name}`;
  try {
    const flags = parse(sub, rest);
    if (flags.help) {
      console.log(subUsage(sub));
      return 0;
    }
    for (const flag of sub.required) {
      if (flags[flag] === undefined) {
        throw new UsageError(`missing --${flag} (accountant ${name} needs it)`);
      }
    }
    const { constants, d } = await resolveConstants(flags);
    const range: AlphaRange = {};
    if (flags["alpha-min"] !== undefined) range.alphaMin = number(flags, "alpha-min");
    if (flags["alpha-max"] !== undefined) range.alphaMax = number(flags, "alpha-max");
    const out = sub.compute(flags, constants, range, d);
    if (flags.json) console.log(JSON.stringify(out.json));
    else console.log(formatTable(out.table.headers, out.table.rows));
    return 0;
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(command, error);
    if (error instanceof AccountantError) {
      const flag = error.field === undefined ? undefined : (FIELD_TO_FLAG[error.field] ?? error.field);
      const named = flag !== undefined && Object.hasOwn(flagsOf(sub), flag);
      const message = `${named ? `--${flag}: ` : ""}${error.message}`;
      // A value out of its range is bad input (2); a question with no answer (ε below its floor, no σ
      // found) is a failure of the request (1).
      return named && /must be|exceeds/.test(error.message)
        ? usageFailure(command, message)
        : failure(message);
    }
    throw error;
  }
}

function flagsOf(sub: Subcommand): Record<string, OptionSpec> {
  return { ...COMMON, ...sub.options };
}

function parse(sub: Subcommand, args: string[]): Flags {
  const options = Object.fromEntries(
    Object.entries(flagsOf(sub)).map(([flag, spec]) => [flag, { type: spec.type }]),
  );
  return parseFlags(args, options) as Flags;
}

async function resolveConstants(
  flags: Flags,
): Promise<{ constants: AccountantConstants; d: number | undefined }> {
  const lambda = flags.lambda === undefined ? 1e-6 : number(flags, "lambda");
  const d = flags.d === undefined ? undefined : integer(flags, "d");
  if (flags.dataset !== undefined) {
    for (const clash of ["n", "L", "multiclass"]) {
      if (flags[clash] !== undefined) {
        throw new UsageError(`--${clash} cannot be combined with --dataset (the dataset determines it)`);
      }
    }
    return fromDataset(String(flags.dataset), lambda, flags, d);
  }
  if (flags.smoothness !== undefined || flags["features-dir"] !== undefined) {
    throw new UsageError("--smoothness and --features-dir only apply with --dataset");
  }
  if (flags.n === undefined) throw new UsageError("missing --n (or --dataset NAME)");
  const n = integer(flags, "n");
  const L = flags.L === undefined ? undefined : number(flags, "L");
  return wrapConstants(() => accountantConstants({ n, lambda, L, multiclass: flags.multiclass === true }), d);
}

function wrapConstants(make: () => AccountantConstants, d: number | undefined) {
  try {
    return { constants: make(), d };
  } catch (error) {
    // Constants errors name n, lambda or L: all of them flags of the same name.
    if (error instanceof AccountantError && error.field !== undefined) {
      throw new UsageError(`--${error.field}: ${error.message}`);
    }
    throw error;
  }
}

/** The part of @unlearn/core the CLI uses; a type-only import, so core still loads only with --dataset. */
type CoreDatasets = Pick<typeof import("@unlearn/core"), "loadDataset" | "datasetConstants">;

async function fromDataset(name: string, lambda: number, flags: Flags, d: number | undefined) {
  // The same default as a sweep's config, so that a K asked here is the K a sweep runs.
  const smoothness = flags.smoothness ?? (await import("@unlearn/sweep")).DEFAULT_SMOOTHNESS;
  if (smoothness !== "data" && smoothness !== "bound") {
    throw new UsageError(`--smoothness must be "data" or "bound", got "${String(smoothness)}"`);
  }
  // Loaded here, not at the top: datasets and the ONNX runtime stay out of every run without --dataset.
  const core: CoreDatasets = await import("@unlearn/core");
  const featuresDir = flags["features-dir"] === undefined ? undefined : String(flags["features-dir"]);
  const ds = await core.loadDataset(name, featuresDir === undefined ? {} : { featuresDir });
  const k = core.datasetConstants(ds, { lambda, smoothness });
  return wrapConstants(() => ({ n: k.n, m: k.m, L: k.L, M: k.clip, delta: k.delta }), d ?? k.d);
}

function requireD(d: number | undefined): number {
  if (d === undefined) throw new UsageError("missing --d (or --dataset NAME)");
  return d;
}

function number(flags: Flags, flag: string): number {
  const raw = flags[flag];
  const value = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : Number.NaN;
  if (!Number.isFinite(value)) throw new UsageError(`--${flag}: expected a number, got "${String(raw)}"`);
  return value;
}

function integer(flags: Flags, flag: string): number {
  const value = number(flags, flag);
  if (!Number.isInteger(value))
    throw new UsageError(`--${flag}: expected an integer, got "${String(flags[flag])}"`);
  return value;
}

function keyValue(values: Record<string, number>): Output {
  return { json: values, table: { headers: ["quantity", "value"], rows: Object.entries(values) } };
}

function formatValue(v: string | number): string {
  if (typeof v === "string") return v;
  if (Number.isInteger(v)) return String(v);
  return Number(v.toPrecision(6)).toString();
}

/** An aligned plain-text table: text left-aligned, numbers right-aligned. */
export function formatTable(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((row) => row.map(formatValue));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i].length)));
  const numeric = headers.map((_, i) => rows.every((row) => typeof row[i] === "number"));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

function topUsage(): string {
  const lines = Object.entries(SUBCOMMANDS).map(([name, sub]) => `  ${name.padEnd(15)} ${sub.summary}`);
  return [
    "usage: pnpm accountant <quantity> (--n N | --dataset NAME) [--lambda λ] [--L L] [--multiclass] [flags] [--json]",
    "",
    "quantities:",
    ...lines,
    "",
    "Run `pnpm accountant <quantity> --help` for its flags.",
  ].join("\n");
}

function subUsage(sub: Subcommand): string {
  const describe = (entries: [string, OptionSpec][]) =>
    entries.map(
      ([flag, spec]) => `  --${(flag + (spec.type === "string" ? " <value>" : "")).padEnd(22)} ${spec.help}`,
    );
  return [
    `usage: pnpm accountant ${sub.usage} (--n N | --dataset NAME) [common flags] [--json]`,
    "",
    sub.summary,
    `α range by default: ${sub.alphaDefault}`,
    "",
    "flags:",
    ...describe(Object.entries(sub.options)),
    "",
    "common flags:",
    ...describe(Object.entries(COMMON)),
  ].join("\n");
}
