/**
 * Input checks of the algorithms: each refusal names the function and the field, and each edge value
 * that is allowed (one chain, one feature) runs. (Complements algorithms.test.ts; the mutation run of
 * issue 11 found these branches untested.)
 */
import { describe, expect, it } from "vitest";
import { d2dLearn, d2dUnlearn, initialChains, langevinLearn, langevinUnlearn } from "./algorithms.ts";
import { datasetConstants } from "./dataset.ts";
import { createEngine } from "./engine/index.ts";
import { lambdaMaxGram } from "./linalg.ts";
import { makeSynthetic } from "./synthetic.ts";

const { train } = makeSynthetic({ n: 12, d: 2, test: 0, classes: 2, seed: 4 });
const constants = datasetConstants(
  { train, classes: 2, lambdaMax: lambdaMaxGram(train.X, train.n, train.d) },
  { lambda: 1e-2 },
);
const chain = new Float32Array(2).fill(1000);

describe("initialChains inputs", () => {
  const base = { init: "langevin" as const, d: 1, classes: 2, chains: 1, sigma: 0.1, m: 0.5, seed: 1 };
  it("accepts one chain of one feature", () => {
    expect(initialChains(base)).toHaveLength(1);
  });
  it("refuses bad sizes and class counts, naming the field", () => {
    expect(() => initialChains({ ...base, d: 0 })).toThrow(
      /initialChains\.d must be a positive integer, got 0/,
    );
    expect(() => initialChains({ ...base, chains: 0 })).toThrow(
      /initialChains\.chains must be a positive integer/,
    );
    expect(() => initialChains({ ...base, classes: 1 })).toThrow(
      /initialChains\.classes must be an integer ≥ 2, got 1/,
    );
    expect(() => initialChains({ ...base, classes: 2.5 })).toThrow(/initialChains\.classes .* got 2\.5/);
  });
});

describe("algorithm inputs (reference engine)", async () => {
  const engine = await createEngine("reference");
  const common = { engine, data: train, constants, steps: 1, seed: 1 };

  it("refuses constants of another dataset, whichever of n, d, classes differs", async () => {
    for (const wrong of [{ n: 13 }, { d: 3 }, { classes: 3 }]) {
      await expect(
        langevinLearn({ ...common, constants: { ...constants, ...wrong }, sigma: 0, chains: 1 }),
      ).rejects.toThrow(/langevinLearn: constants are for/);
    }
    const other = { ...constants, n: 13 };
    await expect(langevinUnlearn({ ...common, constants: other, sigma: 0, W: chain })).rejects.toThrow(
      /langevinUnlearn: constants are for n=13/,
    );
    await expect(d2dLearn({ ...common, constants: other, chains: 1 })).rejects.toThrow(
      /d2dLearn: constants are for n=13/,
    );
    await expect(d2dUnlearn({ ...common, constants: other, W: chain, publishSigma: 0 })).rejects.toThrow(
      /d2dUnlearn: constants are for n=13/,
    );
  });

  it("refuses a negative σ or a chain count below 1, naming the function's field", async () => {
    await expect(langevinLearn({ ...common, sigma: -1, chains: 1 })).rejects.toThrow(
      /langevinLearn\.sigma .* got -1/,
    );
    await expect(langevinLearn({ ...common, sigma: 0, chains: 0 })).rejects.toThrow(
      /langevinLearn\.chains .* got 0/,
    );
    await expect(langevinUnlearn({ ...common, sigma: -1, W: chain })).rejects.toThrow(
      /langevinUnlearn\.sigma/,
    );
    await expect(d2dLearn({ ...common, chains: 0 })).rejects.toThrow(/d2dLearn\.chains .* got 0/);
    await expect(d2dUnlearn({ ...common, W: chain, publishSigma: -1 })).rejects.toThrow(
      /d2dUnlearn\.publishSigma/,
    );
  });

  it("refuses chains that are not a Float32Array of d·T values", async () => {
    await expect(
      langevinUnlearn({ ...common, sigma: 0, W: new Float64Array(2) as unknown as Float32Array }),
    ).rejects.toThrow(/langevinUnlearn\.W must be a Float32Array/);
    await expect(langevinUnlearn({ ...common, sigma: 0, W: new Float32Array(0) })).rejects.toThrow(
      /langevinUnlearn\.W has length 0/,
    );
    await expect(d2dUnlearn({ ...common, W: new Float32Array(3), publishSigma: 0 })).rejects.toThrow(
      /d2dUnlearn\.W has length 3, not a positive multiple of d·1 = 2/,
    );
  });
});
