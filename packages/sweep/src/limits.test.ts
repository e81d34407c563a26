/** Request limits (checked before loading or planning) and planning off the event loop. */
import { readFileSync } from "node:fs";
import * as accountant from "@unlearn/accountant";
import { describe, expect, it } from "vitest";
import { findSweepsDir, parseConfig } from "./config.ts";
import {
  checkLimits,
  DEFAULT_LIMITS,
  estimateJobs,
  LimitError,
  requestLimits,
  syntheticCells,
} from "./limits.ts";
import { planSweepAsync } from "./plan-thread.ts";
import { PlanError, planSweep } from "./planner.ts";

const mnist = { n: 11982, d: 784, classes: 2, L: 3.5 };
const fig5 = (extra: object = {}) =>
  parseConfig({
    name: "limits",
    figure: "fig5",
    dataset: "mnist-3v8",
    removals: [1, 10, 100],
    epsilons: [1, 2],
    sigma: 0.03,
    granularity: 10,
    ...extra,
  });
const range = (n: number, from = 1, step = 1) => Array.from({ length: n }, (_, i) => from + i * step);

describe("request limits", () => {
  it("come from SWEEP_MAX_* (defaults otherwise); a bad value names its variable", () => {
    expect(requestLimits({})).toEqual(DEFAULT_LIMITS);
    expect(requestLimits({ SWEEP_MAX_CHAINS: "5000", SWEEP_MAX_JOBS: "100_000" })).toMatchObject({
      chains: 5000,
      jobs: 100_000,
      burnIn: DEFAULT_LIMITS.burnIn,
    });
    expect(() => requestLimits({ SWEEP_MAX_GRID: "lots" })).toThrow(
      /SWEEP_MAX_GRID: expected a positive integer, got "lots"/,
    );
    expect(() => requestLimits({ SWEEP_MAX_BURN_IN: "0" })).toThrow(/SWEEP_MAX_BURN_IN/);
  });

  it("each error names the field, the value, the limit and how to raise it", () => {
    const limits = requestLimits({});
    const cases: [object, RegExp][] = [
      [
        { chains: 1001 },
        /^chains: 1,001 is above this coordinator's limit of 1,000 \(SWEEP_MAX_CHAINS; its operator can raise it/,
      ],
      [{ burnIn: 2_000_000 }, /^burnIn: 2,000,000 .* limit of 1,000,000 \(SWEEP_MAX_BURN_IN/],
      [{ epsilons: range(1001) }, /^epsilons \(grid entries\): 1,001 .*\(SWEEP_MAX_GRID/],
      [
        { dataset: "synthetic?n=100000&d=1000&test=1000" },
        /\(n \+ test\) · d: 101,000,000 .*\(SWEEP_MAX_SYNTHETIC_CELLS/,
      ],
      [
        { removals: range(200), epsilons: range(200, 1, 0.1) },
        /^jobs the sweep plans \(at most\): 40,201 .*\(SWEEP_MAX_JOBS/,
      ],
    ];
    for (const [extra, message] of cases) {
      const error = (() => {
        try {
          checkLimits(fig5(extra), limits);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(LimitError);
      expect((error as Error).message).toMatch(message);
    }
    const fig3b = parseConfig({
      name: "seq",
      figure: "fig3b",
      dataset: "mnist-3v8",
      total: 20_000,
      batches: [20_000],
      epsilon: 1,
      sigma: 0.03,
      d2dFactors: [1],
    });
    expect(() => checkLimits(fig3b, limits)).toThrow(/^total: 20,000 .*\(SWEEP_MAX_TOTAL/);
    expect(() => checkLimits(fig5(), limits)).not.toThrow();
    expect(syntheticCells("mnist-3v8")).toBeUndefined();
  });

  it("estimateJobs bounds the planner's count from above for every preset", () => {
    const dir = findSweepsDir()!;
    for (const name of ["fig3a", "fig3b", "fig3c", "fig4", "fig5"]) {
      const config = parseConfig(JSON.parse(readFileSync(`${dir}/${name}.json`, "utf8")), name);
      const planned = planSweep(config, mnist, accountant).jobs.length;
      expect(estimateJobs(config), name).toBeGreaterThanOrEqual(planned);
      checkLimits(config, DEFAULT_LIMITS);
    }
  });
});

describe("planSweepAsync", () => {
  it("plans a large sweep on a thread: the same plan, while the event loop keeps running", async () => {
    const config = fig5({ removals: range(40), epsilons: range(60, 1, 0.1) });
    const inline = planSweep(config, mnist, accountant);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const threaded = await planSweepAsync(config, mnist, 0);
    clearInterval(timer);
    expect(threaded).toEqual(inline);
    expect(ticks).toBeGreaterThan(3);
  }, 60_000);

  it("a plan error made on the thread is a PlanError with the planner's message", async () => {
    const config = fig5({ removals: [20_000] });
    const error = await planSweepAsync(config, mnist, 0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlanError);
    expect((error as Error).message).toMatch(/only 11982 rows/);
  }, 60_000);

  it("a small plan is made inline", async () => {
    expect(await planSweepAsync(fig5(), mnist)).toEqual(planSweep(fig5(), mnist, accountant));
  });
});
