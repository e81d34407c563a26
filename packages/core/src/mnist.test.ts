import { copyFile, mkdtemp, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type Dataset, datasetConstants, loadDataset } from "./dataset.ts";
import { loadMnist3v8, MNIST_FILES, mnistDataDir } from "./mnist.ts";

const files = Object.values(MNIST_FILES).map((f) => f.name);

/** A directory holding links to the real files except `replaced`, which the caller writes. */
async function dirWithout(replaced: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "mnist-"));
  for (const name of files) if (name !== replaced) await symlink(join(mnistDataDir(), name), join(dir, name));
  return dir;
}

describe("mnist-3v8", () => {
  let ds: Dataset;
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), "mnist-cache-"));
    ds = await loadDataset("mnist-3v8", { cacheDir });
  });

  it("has 6131 threes then 5851 eights for training and 1984 test rows (docs/science.md §1)", () => {
    const { train, test } = ds;
    expect([train.n, train.d, test.n, test.d, ds.classes]).toEqual([11982, 784, 1984, 784, 2]);
    const y = Array.from(train.y);
    expect(y.slice(0, 6131).every((v) => v === 1)).toBe(true);
    expect(y.slice(6131).every((v) => v === -1)).toBe(true);
    const testCounts = { pos: 0, neg: 0 };
    for (const v of test.y) v === 1 ? testCounts.pos++ : testCounts.neg++;
    expect(testCounts).toEqual({ pos: 1010, neg: 974 }); // the 3s and 8s of t10k
  });

  it("rows are (pixel/255 − 0.5) scaled to unit norm", async () => {
    for (const m of [ds.train, ds.test]) {
      for (let i = 0; i < m.n; i++) {
        let sq = 0;
        for (let k = 0; k < m.d; k++) sq += m.X[i * m.d + k] ** 2;
        expect(Math.abs(Math.sqrt(sq) - 1)).toBeLessThan(1e-6);
      }
    }
    // The first training 3 is image 7 of the file: recompute it from the raw bytes.
    const raw = await readFile(join(mnistDataDir(), MNIST_FILES.trainImages.name));
    const labels = await readFile(join(mnistDataDir(), MNIST_FILES.trainLabels.name));
    const first3 = labels.subarray(8).indexOf(3);
    const pixels = Array.from(raw.subarray(16 + first3 * 784, 16 + (first3 + 1) * 784), (p) => p / 255 - 0.5);
    const norm = Math.hypot(...pixels);
    for (let k = 0; k < 784; k++) expect(ds.train.X[k]).toBeCloseTo(pixels[k] / norm, 6);
  });

  it("has L_data = 0.194700544 ± 1e-6, m = 0.011982, L_bound = 0.261982 at λ = 1e-6, cached on disk", async () => {
    const data = datasetConstants(ds, { lambda: 1e-6, smoothness: "data" });
    expect(Math.abs(data.L - 0.194700544)).toBeLessThan(1e-6);
    expect(data.m).toBeCloseTo(0.011982, 12);
    expect(data.eta).toBeCloseTo(1 / data.L, 12);
    expect(data.clip).toBe(1);
    expect(data.delta).toBeCloseTo(1 / 11982, 15);
    expect(datasetConstants(ds, { lambda: 1e-6, smoothness: "bound" }).L).toBeCloseTo(0.261982, 12);
    const cached = (await readdir(cacheDir)).filter((f) => f.startsWith("lambda-max-"));
    expect(cached).toHaveLength(1);
    expect(JSON.parse(await readFile(join(cacheDir, cached[0]), "utf8")).lambdaMax).toBe(ds.lambdaMax);
    expect((await loadDataset("mnist-3v8", { cacheDir })).lambdaMax).toBe(ds.lambdaMax);
  });

  it("a corrupt file is refused with an error naming it", async () => {
    const name = MNIST_FILES.trainLabels.name;
    const dir = await dirWithout(name);
    const bytes = await readFile(join(mnistDataDir(), name));
    bytes[100] ^= 1;
    await writeFile(join(dir, name), bytes);
    await expect(loadMnist3v8(dir)).rejects.toThrow(
      new RegExp(`${name} is corrupt or not the original MNIST file`),
    );
  });

  it("a missing file is refused with an error naming it", async () => {
    const name = MNIST_FILES.testImages.name;
    const dir = await dirWithout(name);
    await expect(loadMnist3v8(dir)).rejects.toThrow(new RegExp(`cannot read .*${name} \\(ENOENT\\)`));
    // …and an intact copy loads (the links themselves are fine).
    await copyFile(join(mnistDataDir(), name), join(dir, name));
    expect((await loadMnist3v8(dir)).test.n).toBe(1984);
  });
});
