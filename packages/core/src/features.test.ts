import { cp, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadDataset } from "./dataset.ts";
import { FEATURE_FILES, FEATURES_MANIFEST, featuresKey, writeFeaturesManifest } from "./features.ts";
import { type NpyData, writeNpy } from "./npy.ts";

interface Files {
  trainX: NpyData;
  trainShape: number[];
  trainY: NpyData;
  testX: NpyData;
  testShape: number[];
  testY: NpyData;
}

/** Train: 6 rows of 2 features, row i = (i + 1, 1); labels 8, 3, 1, 3, 8, 3. Test: 3 rows. */
function goodFiles(): Files {
  return {
    trainX: Float32Array.from({ length: 12 }, (_, k) => (k % 2 === 0 ? k / 2 + 1 : 1)),
    trainShape: [6, 2],
    trainY: BigInt64Array.from([8n, 3n, 1n, 3n, 8n, 3n]),
    testX: Float32Array.of(3, 4, 0, 2, 5, 0),
    testShape: [3, 2],
    testY: Int32Array.of(8, 0, 3),
  };
}

async function writeDir(f: Files): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "features-"));
  await writeNpy(join(dir, FEATURE_FILES.trainFeatures), f.trainX, f.trainShape);
  await writeNpy(join(dir, FEATURE_FILES.trainLabels), f.trainY, [f.trainY.length]);
  await writeNpy(join(dir, FEATURE_FILES.testFeatures), f.testX, f.testShape);
  await writeNpy(join(dir, FEATURE_FILES.testLabels), f.testY, [f.testY.length]);
  return dir;
}

describe("feature datasets (.npy directory)", () => {
  it("cifar10-3v8 keeps class 3 rows then class 8 rows in file order, y = ±1, unit-norm rows", async () => {
    const dir = await writeDir(goodFiles());
    const cacheDir = await mkdtemp(join(tmpdir(), "cache-"));
    const ds = await loadDataset("cifar10-3v8", { featuresDir: dir, cacheDir });
    expect(ds.classes).toBe(2);
    expect(ds.train.n).toBe(5);
    expect(Array.from(ds.train.y)).toEqual([1, 1, 1, -1, -1]);
    // Train rows 1, 3, 5 (the 3s) then 0, 4 (the 8s): first coordinates 2, 4, 6, 1, 5 before scaling.
    const firsts = Array.from({ length: 5 }, (_, i) => ds.train.X[2 * i] / ds.train.X[2 * i + 1]);
    expect(firsts.map((v) => Math.round(v * 1e5) / 1e5)).toEqual([2, 4, 6, 1, 5]);
    for (let i = 0; i < 5; i++)
      expect(Math.hypot(ds.train.X[2 * i], ds.train.X[2 * i + 1])).toBeCloseTo(1, 6);
    // Test rows keep file order (8, then 3; the class-0 row is dropped).
    expect(Array.from(ds.test.y)).toEqual([-1, 1]);
    expect(Array.from(ds.test.X)).toEqual([0.6, 0.8, 1, 0].map(Math.fround));
    expect(ds.lambdaMax).toBeGreaterThan(0);
    await rm(dir, { recursive: true });
  });

  it("cifar10-multi keeps every row with its class index; ?dir= works too", async () => {
    const dir = await writeDir(goodFiles());
    const ds = await loadDataset(`cifar10-multi?dir=${encodeURIComponent(dir)}`, { cacheDir: dir });
    expect(ds.classes).toBe(10);
    expect(Array.from(ds.train.y)).toEqual([8, 3, 1, 3, 8, 3]);
    expect(Array.from(ds.test.y)).toEqual([8, 0, 3]);
  });

  it("a user dataset: features?dir=…&classes=…&binary=…", async () => {
    const dir = await writeDir(goodFiles());
    const ds = await loadDataset(`features?dir=${dir}&classes=9&binary=8,1`, { cacheDir: dir });
    expect(Array.from(ds.train.y)).toEqual([1, 1, -1]);
    await expect(loadDataset(`features?dir=${dir}&classes=8`, { cacheDir: dir })).rejects.toThrow(
      /train_labels\.npy: label 0 is 8, outside 0…7/,
    );
  });

  const bad: [string, (f: Files) => void, RegExp][] = [
    [
      "non-finite feature",
      (f) => ((f.trainX as Float32Array)[5] = Number.NaN),
      /train_features\.npy: value at row 2, column 1 is NaN/,
    ],
    [
      "integer features",
      (f) => (f.testX = Int32Array.of(1, 2, 3, 4, 5, 6)),
      /test_features\.npy: features must be float32.*<i4/,
    ],
    [
      "1-D features",
      (f) => (f.trainShape = [12]),
      /train_features\.npy: features must have shape \[rows, features\], got \[12\]/,
    ],
    [
      "label out of range",
      (f) => (f.testY = Int32Array.of(8, 10, 3)),
      /test_labels\.npy: label 1 is 10, outside 0…9/,
    ],
    [
      "negative label",
      (f) => (f.trainY = BigInt64Array.from([8n, -1n, 1n, 3n, 8n, 3n])),
      /train_labels\.npy: label 1 is -1/,
    ],
    [
      "float labels",
      (f) => (f.trainY = Float32Array.of(8, 3, 1, 3, 8, 3)),
      /train_labels\.npy: labels must have an integer dtype/,
    ],
    ["label count", (f) => (f.testY = Int32Array.of(8, 3)), /test_labels\.npy: 2 labels for 3 feature rows/],
    [
      "feature width",
      (f) => {
        f.testX = Float32Array.of(1, 2, 3, 4, 5, 6);
        f.testShape = [2, 3];
        f.testY = Int32Array.of(3, 8);
      },
      /test_features\.npy: 3 features per row, but .*train_features\.npy has 2/,
    ],
    ["zero row", (f) => (f.trainX as Float32Array).fill(0, 2, 4), /train_features\.npy: row 0 has L2 norm 0/],
  ];
  for (const [what, corrupt, message] of bad) {
    it(`refuses ${what}, naming the file`, async () => {
      const f = goodFiles();
      corrupt(f);
      const dir = await writeDir(f);
      await expect(loadDataset("cifar10-3v8", { featuresDir: dir, cacheDir: dir })).rejects.toThrow(message);
    });
  }

  it("a missing file or directory is a clear error", async () => {
    const dir = await writeDir(goodFiles());
    await rm(join(dir, FEATURE_FILES.testLabels));
    await expect(loadDataset("cifar10-3v8", { featuresDir: dir })).rejects.toThrow(
      /test_labels\.npy: cannot read/,
    );
    await expect(loadDataset("cifar10-3v8")).rejects.toThrow(/cifar10-3v8.*needs a features directory/);
  });
});

describe("features content key (SHA256SUMS manifest)", () => {
  it("pins the key of fixed files (a change re-keys every stored features job: do it deliberately)", async () => {
    const dir = await writeDir(goodFiles());
    const key = await writeFeaturesManifest(dir);
    expect(key).toBe(GOLDEN_FEATURES_KEY);
    // sha256sum format: "<hex>  <file>", in FEATURE_FILES order.
    const lines = (await readFile(join(dir, FEATURES_MANIFEST), "utf8")).trim().split("\n");
    expect(lines.map((l) => l.slice(66))).toEqual(Object.values(FEATURE_FILES));
    expect(lines.every((l) => /^[0-9a-f]{64} {2}/.test(l))).toBe(true);
    await rm(dir, { recursive: true });
  });

  it("a moved or copied folder keeps its key (the path is not part of it)", async () => {
    const dir = await writeDir(goodFiles());
    const key = await writeFeaturesManifest(dir);
    const parent = await mkdtemp(join(tmpdir(), "moved-"));
    const moved = join(parent, "elsewhere");
    await rename(dir, moved);
    expect(await featuresKey(moved)).toBe(key);
    const copy = join(parent, "copy");
    await cp(moved, copy, { recursive: true });
    await rm(join(copy, FEATURES_MANIFEST)); // a copy without its manifest: hashed, same key, manifest rewritten
    expect(await featuresKey(copy)).toBe(key);
    expect(await readFile(join(copy, FEATURES_MANIFEST), "utf8")).toBe(
      await readFile(join(moved, FEATURES_MANIFEST), "utf8"),
    );
    await rm(parent, { recursive: true });
  });

  it("regenerated features get a new key; a stale manifest is refused, naming the file", async () => {
    const dir = await writeDir(goodFiles());
    const key = await writeFeaturesManifest(dir);
    const f = goodFiles();
    (f.testX as Float32Array)[0] = 7; // one changed feature of the test set
    await writeNpy(join(dir, FEATURE_FILES.testFeatures), f.testX, f.testShape);
    await expect(featuresKey(dir)).rejects.toThrow(/test_features\.npy: SHA-256 [0-9a-f]{64} differs from/);
    const regenerated = await writeFeaturesManifest(dir);
    expect(regenerated).not.toBe(key);
    expect(await featuresKey(dir)).toBe(regenerated);
    await rm(dir, { recursive: true });
  });

  it("a missing file or a malformed manifest is a clear error", async () => {
    const dir = await writeDir(goodFiles());
    await writeFile(join(dir, FEATURES_MANIFEST), "not a hash  train_features.npy\n");
    await expect(featuresKey(dir)).rejects.toThrow(/SHA256SUMS: line 1 is not/);
    await rm(join(dir, FEATURE_FILES.trainLabels));
    await expect(writeFeaturesManifest(dir)).rejects.toThrow(/train_labels\.npy: cannot read/);
    await rm(dir, { recursive: true });
  });
});

const GOLDEN_FEATURES_KEY = "25c6cf4383fbc44a2c5487dbc22d4841245815c4c5388a3c24becbe8cbd19832";
