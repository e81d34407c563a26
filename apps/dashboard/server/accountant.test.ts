import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { AccountantInputError, acceptDataset, computeAccountant, SYNTHETIC_LIMITS } from "./accountant.ts";

const none = async () => undefined;
const input = (dataset: string) => ({
  dataset,
  epsilon: 1,
  sigma: 0.03,
  removals: 100,
  granularity: 1,
  smoothness: "data" as const,
  targetK: 2,
});

describe("the accountant API's datasets", () => {
  test("synthetic specs within bounds are accepted, in one canonical order", async () => {
    expect(await acceptDataset("synthetic?seed=3&d=8&n=100", none)).toEqual({
      spec: "synthetic?n=100&d=8&test=0&classes=2&seed=3",
      persistent: false,
    });
  });

  test.each([
    ["synthetic?n=100000000&d=2", /n must be an integer from 1 to 100000/],
    ["synthetic?n=1000&d=5000", /d must be an integer from 1 to 4096/],
    [`synthetic?n=${SYNTHETIC_LIMITS.n}&d=100`, /\(n \+ test\) × d must be at most 5000000/],
    ["synthetic?n=10&d=2&seed=../../etc", /seed must be 1 to 64 letters/],
    ["synthetic?n=1e3&d=2", /n must be an integer/],
    ["synthetic?n=10&d=2&colour=red", /no parameter "colour"/],
    ["features?dir=/etc&classes=2", /named by the content key/],
    ["cifar10-3v8?dir=/home", /named by the content key/],
    ["cifar10-3v8", /named by the content key/],
    [`features?key=${"a".repeat(64)}&classes=2`, /are not served here/],
    ["/etc/passwd", /expected mnist-3v8/],
  ])("%s is refused (%s)", async (dataset, why) => {
    const error = await acceptDataset(dataset, none).catch((e) => e);
    expect(error).toBeInstanceOf(AccountantInputError);
    expect(error.message).toMatch(why);
  });

  test("features by a registered content key load from the operator's folder, never echoed", async () => {
    const key = "b".repeat(64);
    const got = await acceptDataset(`features?key=${key}&classes=2`, async (k) =>
      k === key ? "/srv/f" : undefined,
    );
    expect(got).toEqual({ spec: "features?classes=2&dir=%2Fsrv%2Ff", persistent: true });
  });

  test("a synthetic dataset computes without leaving a λ_max file in the cache", async () => {
    const home = mkdtempSync(join(tmpdir(), "unlearn-acc-home-"));
    const before = existsSync(join(home, ".cache")) ? readdirSync(join(home, ".cache")) : [];
    const saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = join(home, ".cache");
    try {
      const view = await computeAccountant(input("synthetic?n=200&d=4&seed=9"));
      expect(view.constants).toMatchObject({ n: 200, d: 4 });
      expect(view.K).toBeGreaterThan(0);
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
    }
    expect(existsSync(join(home, ".cache")) ? readdirSync(join(home, ".cache")) : []).toEqual(before);
  });
});
