// Mutation testing (StrykerJS + vitest) of the science code: `pnpm test:mutation` runs Stryker once per
// package (scripts/mutation.mjs, cwd = the package, this file as its config) and merges the reports into
// reports/mutation/mutation.json. Each target lists the files mutated and the only test files run
// against them (the package's other tests would cost minutes per mutant and kill nothing here).
import { basename } from "node:path";

export const TARGETS = {
  accountant: {
    mutate: ["src/**/*.ts", "!src/**/*.test.ts", "!src/index.ts"],
    testFiles: ["src/**/*.test.ts"],
  },
  core: {
    mutate: ["src/algorithms.ts", "src/removal.ts"],
    testFiles: [
      "src/algorithms.test.ts",
      "src/algorithms-inputs.test.ts",
      "src/removal.test.ts",
      "src/golden.test.ts",
    ],
  },
  sweep: {
    mutate: ["src/planner.ts", "src/execute.ts"],
    testFiles: [
      "src/planner.test.ts",
      "src/execute.test.ts",
      "test/executor-science.test.ts",
      "test/golden.test.ts",
      "test/contract.test.ts",
    ],
  },
};

const pkg = basename(process.cwd());
const target = TARGETS[pkg];

/**
 * Outside packages/{accountant,core,sweep} (e.g. when scripts/mutation.mjs imports TARGETS from the root)
 * there is nothing to mutate: the options are empty.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default target && {
  testRunner: "vitest",
  vitest: { related: false },
  plugins: ["@stryker-mutator/vitest-runner"],
  mutate: target.mutate,
  testFiles: target.testFiles,
  coverageAnalysis: "perTest",
  // Two workers: the machine has 2 cores and is shared.
  concurrency: 2,
  // A loaded machine runs tests slowly; a mutant is a timeout only well past the dry run's time.
  timeoutMS: 10_000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 10,
  reporters: ["json", "clear-text", "progress-append-only"],
  jsonReporter: { fileName: `../../reports/mutation/${pkg}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: false },
  // Sandboxes outside the package: vitest run inside a package (other work, `pnpm test`) would
  // otherwise find the sandbox's copies of the tests and run them too. Two folders deep below
  // .stryker-tmp because Stryker rewrites the tsconfig's "../../tsconfig.base.json" by prefixing
  // "../../" (it assumes the sandbox lies two levels below the package): from
  // .stryker-tmp/<pkg>/sandboxes/sandbox-x that lands on the root's tsconfig.base.json again.
  tempDirName: `../../.stryker-tmp/${pkg}/sandboxes`,
  cleanTempDir: true,
  ignoreStatic: true,
  thresholds: { high: 90, low: 80, break: null },
};
