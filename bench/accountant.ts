/**
 * `pnpm bench:accountant [--repeats N] [--json]`: how long the accountant takes to produce every K and σ
 * the paper's five figures need (docs/science.md §6), for MNIST 3v8, CIFAR-10 3v8 and CIFAR-10 multiclass constants,
 * and how that compares with the paper's own method, a linear scan K = 1, 2, 3, … with one α
 * minimisation per K, run on the same K values in the same process.
 */
import {
  type AccountantConstants,
  accountantConstants,
  d2dSequential,
  d2dSigma,
  epsilon0,
  epsilonStar,
  sequentialSchedule,
  sigmaFor,
  stepsFor,
} from "@unlearn/accountant";
import { EXIT, integerFlag, parseFlags, usageFailure } from "@unlearn/cli/usage";

interface DatasetSetup {
  name: string;
  constants: AccountantConstants;
  d: number;
  /** Figures this dataset appears in (docs/science.md §6: 3c and 4 are binary only). */
  figures: Set<string>;
  /** σ of Figures 3b, 4, 5 (the paper used 0.015 for CIFAR-10 multiclass Figure 5). */
  sigmaFig5: number;
}

const DATASETS: DatasetSetup[] = [
  {
    name: "mnist-3v8",
    constants: accountantConstants({ n: 11982, lambda: 1e-6, L: 0.194700544 }), // L_data (docs/science.md §2)
    d: 784,
    figures: new Set(["3a", "3b", "3c", "4", "5"]),
    sigmaFig5: 0.03,
  },
  {
    name: "cifar10-3v8",
    constants: accountantConstants({ n: 10000, lambda: 1e-6 }), // L bound 1/4 + λn
    d: 512,
    figures: new Set(["3a", "3b", "3c", "4", "5"]),
    sigmaFig5: 0.03,
  },
  {
    name: "cifar10-multi",
    constants: accountantConstants({ n: 50000, lambda: 1e-6, multiclass: true }), // 1 + λn, M = 2
    d: 512,
    figures: new Set(["3a", "3b", "5"]),
    sigmaFig5: 0.015,
  },
];

/** One K(ε, σ, S) the figures need. */
interface KQuery {
  dataset: DatasetSetup;
  figure: string;
  epsilon: number;
  sigma: number;
  removals: number;
}

/** Every accountant call of the five figures, as closures, plus the plain K queries among them. */
function workload(): { tasks: (() => unknown)[]; kQueries: KQuery[]; counts: Record<string, number> } {
  const tasks: (() => unknown)[] = [];
  const kQueries: KQuery[] = [];
  const counts: Record<string, number> = {
    "σ*": 0,
    K: 0,
    ε0: 0,
    schedules: 0,
    "D2D σ": 0,
    "D2D sequential": 0,
  };
  for (const ds of DATASETS) {
    const c = ds.constants;
    if (ds.figures.has("3a")) {
      for (const epsilon of [0.05, 0.1, 0.5, 1, 2, 5]) {
        for (const k of [1, 2, 5]) {
          tasks.push(() => sigmaFor(epsilon, k, c, { alphaMin: 2 })); // the paper's baseline comparison: α in [2, 1e4]
          counts["σ*"]++;
        }
        for (const I of [1, 2, 5]) {
          tasks.push(() => d2dSigma(I, epsilon, c));
          counts["D2D σ"]++;
        }
      }
    }
    if (ds.figures.has("3b")) {
      for (const batch of [5, 10, 20]) {
        tasks.push(() => sequentialSchedule({ sigma: 0.03, epsilon: 1, batch, total: 100 }, c));
        counts.schedules++;
      }
      for (const factor of [1, 1.5, 2]) {
        tasks.push(() => d2dSequential({ d: ds.d, epsilon: 1, factor, total: 100 }, c));
        counts["D2D sequential"]++;
      }
    }
    if (ds.figures.has("3c")) {
      for (const sigma of [0.05, 0.1, 0.2, 0.5, 1]) {
        tasks.push(() => epsilon0(sigma, 100, c));
        counts["ε0"]++;
        kQueries.push({ dataset: ds, figure: "3c", epsilon: 1, sigma, removals: 100 });
      }
    }
    if (ds.figures.has("4")) {
      for (const epsilon of [0.1, 0.5, 1, 2, 5]) {
        for (const removals of [1, 50, 100])
          kQueries.push({ dataset: ds, figure: "4", epsilon, sigma: 0.03, removals });
      }
    }
    if (ds.figures.has("5")) {
      for (const removals of [1, 10, 50, 100, 500, 1000]) {
        for (const epsilon of [0.5, 1, 2]) {
          kQueries.push({ dataset: ds, figure: "5", epsilon, sigma: ds.sigmaFig5, removals });
        }
      }
    }
  }
  for (const q of kQueries) {
    tasks.push(() => stepsFor(q.epsilon, q.sigma, q.removals, q.dataset.constants));
    counts.K++;
  }
  return { tasks, kQueries, counts };
}

/** The paper's method: K = 1, 2, 3, … until ε*(K) ≤ ε. */
function linearScanK(q: KQuery): number {
  let K = 1;
  while (epsilonStar(K, q.sigma, q.removals, q.dataset.constants).epsilon > q.epsilon) K++;
  return K;
}

function medianMs(repeats: number, body: () => void): { median: number; all: number[] } {
  const all: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    body();
    all.push(performance.now() - t0);
  }
  const sorted = [...all].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
  return { median, all };
}

const USAGE = `usage: pnpm bench:accountant [--repeats N] [--json]

Times every K and σ the paper's figures need, against the paper's linear scan over K.

options:
  --repeats N   runs to take the median of (default 5)
  --json        print one JSON object
  --help        show this help`;

/** The command line, or the exit code when it is --help or wrong (the CLI's error style). */
function commandLine(argv: string[]): { repeats: number; json: boolean } | number {
  try {
    const values = parseFlags(argv, {
      repeats: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    });
    if (values.help) {
      console.log(USAGE);
      return EXIT.ok;
    }
    return { repeats: integerFlag("--repeats", values.repeats, 1) ?? 5, json: values.json };
  } catch (error) {
    return usageFailure("pnpm bench:accountant", error);
  }
}

function main(): void {
  const values = commandLine(process.argv.slice(2));
  if (typeof values === "number") {
    process.exitCode = values;
    return;
  }
  const { repeats } = values;

  const { tasks, kQueries, counts } = workload();
  const kFast = kQueries.map((q) => stepsFor(q.epsilon, q.sigma, q.removals, q.dataset.constants).K);

  const whole = medianMs(repeats, () => {
    for (const task of tasks) task();
  });
  const kOnlyFast = medianMs(repeats, () => {
    for (const q of kQueries) stepsFor(q.epsilon, q.sigma, q.removals, q.dataset.constants);
  });
  // The scan's answers double as a check: both methods must agree on every K.
  let kLinear: number[] = [];
  const kOnlyLinear = medianMs(Math.min(repeats, 3), () => {
    kLinear = kQueries.map(linearScanK);
  });
  const mismatches = kQueries.filter((_, i) => kLinear[i] !== kFast[i]).length;
  const ratio = kOnlyLinear.median / kOnlyFast.median;

  const report = {
    repeats,
    calls: counts,
    wholeSetMs: whole.median,
    kValues: kQueries.length,
    sumOfK: kFast.reduce((a, b) => a + b, 0),
    maxK: Math.max(...kFast),
    kBisectionMs: kOnlyFast.median,
    kLinearScanMs: kOnlyLinear.median,
    linearOverBisection: ratio,
    kMismatches: mismatches,
    underOneSecond: whole.median < 1000,
  };
  if (values.json) {
    console.log(JSON.stringify(report));
  } else {
    const f = (ms: number) => `${ms.toFixed(1)} ms`;
    console.log(
      `accountant benchmark (median of ${repeats} runs; linear scan: median of ${Math.min(repeats, 3)})`,
    );
    console.log(
      `  calls: ${Object.entries(counts)
        .map(([k, v]) => `${v} ${k}`)
        .join(", ")}`,
    );
    console.log(`  every K and σ of Figures 3a–5, 3 datasets:  ${f(whole.median)}  (target < 1000 ms)`);
    console.log(`  the ${kQueries.length} K values (Σ K = ${report.sumOfK}, max ${report.maxK}):`);
    console.log(`    doubling + bisection   ${f(kOnlyFast.median)}`);
    console.log(`    linear scan K = 1,2,…  ${f(kOnlyLinear.median)}`);
    console.log(
      `    ratio                  ${ratio.toFixed(1)}×  (${mismatches} K values differ between the two)`,
    );
  }
  if (mismatches > 0) process.exitCode = 1;
}

main();
