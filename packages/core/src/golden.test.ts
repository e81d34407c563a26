/**
 * Golden values of the algorithms: a job's chains follow from its seed through these streams
 * (deriveSeed(seed, "init"), (seed, <algorithm>, "noise"), (seed, "d2d-publish"), (seed, "replace", j)),
 * so renaming a stream, flipping a sign or swapping a label map changes every result computed from
 * then on while each run still looks plausible. These pins fail first; change them only deliberately,
 * with a schema version. The algorithm pins are those of noise version "philox-v1" (engine/philox.ts,
 * JobSpec.noise): they changed, deliberately, when the xoshiro stream gave way to counter-based Philox. Tolerance 1e-3 (the chains lie near 1000, float32 steps 6e-5 there): a reordering
 * of the reference engine's float sums passes, a different stream or sign (changes of 0.1 or more) does not.
 */
import { describe, expect, it } from "vitest";
import { d2dLearn, d2dUnlearn, initialChains, langevinLearn, langevinUnlearn } from "./algorithms.ts";
import { datasetConstants } from "./dataset.ts";
import { createEngine } from "./engine/index.ts";
import { lambdaMaxGram } from "./linalg.ts";
import { replacementRow, withReplacedRows } from "./removal.ts";
import { makeSynthetic } from "./synthetic.ts";

const { train } = makeSynthetic({ n: 20, d: 3, test: 0, classes: 2, seed: 1 });
const constants = datasetConstants(
  { train, classes: 2, lambdaMax: lambdaMaxGram(train.X, train.n, train.d) },
  { lambda: 1e-2 },
);

function expectClose(actual: ArrayLike<number>, golden: readonly number[]): void {
  expect(actual.length).toBe(golden.length);
  for (let k = 0; k < golden.length; k++) {
    const tol = 1e-3 + 1e-6 * Math.abs(golden[k]!);
    expect(Math.abs(actual[k]! - golden[k]!), `value ${k}: ${actual[k]} vs ${golden[k]}`).toBeLessThan(tol);
  }
}

describe("golden values of the removal protocol", () => {
  it("pins replacement rows and their labels (binary ±1, multiclass 0…C−1)", () => {
    const out = new Float32Array(3);
    const label = replacementRow(7, 3, 3, 2, out);
    expectClose(out, GOLDEN.replacementRow);
    expect(label).toBe(GOLDEN.replacementLabel);
    const labels = Array.from({ length: 20 }, (_, j) => replacementRow(7, j, 3, 2, new Float32Array(3)));
    expect(labels).toEqual(GOLDEN.binaryLabels);
    const classes = Array.from({ length: 16 }, (_, j) => replacementRow(7, j, 3, 5, new Float32Array(3)));
    expect(classes).toEqual(GOLDEN.multiclassLabels);
  });

  it("withReplacedRows copies D: neither its features nor its labels change", () => {
    const X = train.X.slice();
    const y = train.y.slice();
    const Dp = withReplacedRows(train, 5, 7);
    expect(train.X).toEqual(X);
    expect(train.y).toEqual(y);
    expect(Array.from(Dp.y.subarray(15))).toEqual(GOLDEN.binaryLabels.slice(15, 20));
  });
});

describe("golden values of the algorithms (reference engine)", () => {
  it("pins the initial chains", () => {
    const W = initialChains({ init: "langevin", d: 3, classes: 2, chains: 2, sigma: 0.1, m: 0.5, seed: 1 });
    expectClose(W, GOLDEN.initLangevin);
    expectClose(
      initialChains({ init: "d2d", d: 3, classes: 2, chains: 2, sigma: 0, m: 0.5, seed: 1 }),
      GOLDEN.initD2d,
    );
  });

  it("pins Langevin learning and unlearning, and D2D learning and publication", async () => {
    const engine = await createEngine("reference");
    const common = { engine, data: train, constants };
    const W = await langevinLearn({ ...common, sigma: 0.1, steps: 5, chains: 2, seed: 1 });
    expectClose(W, GOLDEN.langevinLearn);
    const Dp = withReplacedRows(train, 5, 7);
    const U = await langevinUnlearn({ ...common, data: Dp, sigma: 0.1, steps: 3, W, seed: 2 });
    expectClose(U, GOLDEN.langevinUnlearn);
    const V = await d2dLearn({ ...common, steps: 5, chains: 2, seed: 1 });
    expectClose(V, GOLDEN.d2dLearn);
    const out = await d2dUnlearn({ ...common, data: Dp, steps: 2, W: V, publishSigma: 0.5, seed: 3 });
    expectClose(out.W, GOLDEN.d2dUnlearn);
    expectClose(out.published, GOLDEN.d2dPublished);
  });
});

const GOLDEN = {
  replacementRow: [0.025023747235536575, -0.49530860781669617, -0.8683565855026245],
  replacementLabel: 1,
  binaryLabels: [1, 1, 1, 1, -1, 1, 1, 1, 1, 1, -1, 1, 1, -1, 1, 1, -1, -1, 1, 1],
  multiclassLabels: [1, 0, 0, 0, 3, 4, 2, 0, 0, 3, 2, 2, 4, 2, 4, 0],
  initLangevin: [
    999.711669921875, 999.7330322265625, 999.677490234375, 1000.0848999023438, 999.6993408203125,
    1000.20751953125,
  ],
  initD2d: [
    998.5584716796875, 998.6651000976562, 998.387451171875, 1000.4246215820312, 998.496826171875,
    1001.03759765625,
  ],
  langevinLearn: [
    990.8678588867188, 991.3961791992188, 990.9696044921875, 992.0382690429688, 991.4174194335938,
    992.5951538085938,
  ],
  langevinUnlearn: [
    985.4011840820312, 985.8521728515625, 986.0172119140625, 987.44677734375, 987.1890869140625,
    987.6568603515625,
  ],
  d2dLearn: [
    988.048828125, 988.1707153320312, 987.8759765625, 989.907958984375, 987.98046875, 990.5108642578125,
  ],
  d2dUnlearn: [
    983.8424072265625, 983.9703979492188, 983.6732177734375, 985.703125, 983.7747802734375, 986.301025390625,
  ],
  d2dPublished: [
    984.0390625, 983.5907592773438, 983.2472534179688, 985.6776733398438, 983.724365234375, 987.247314453125,
  ],
};
