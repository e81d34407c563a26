import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { datasetConstants, defaultCacheDir, loadDataset, trainChecksum } from "./dataset.ts";
import { lambdaMaxGram } from "./linalg.ts";

const tmpCache = () => mkdtemp(join(tmpdir(), "ds-cache-"));

describe("synthetic datasets", () => {
  it("are drawn from the seed: same spec → identical data, another seed → different data", async () => {
    const cacheDir = await tmpCache();
    const a = await loadDataset("synthetic?n=200&d=10&test=50&seed=7", { cacheDir });
    const b = await loadDataset("synthetic?n=200&d=10&test=50&seed=7", { cacheDir });
    const c = await loadDataset("synthetic?n=200&d=10&test=50&seed=8", { cacheDir });
    expect(b.train.X).toEqual(a.train.X);
    expect(b.test.y).toEqual(a.test.y);
    expect(c.train.X).not.toEqual(a.train.X);
    expect([a.train.n, a.train.d, a.test.n, a.classes]).toEqual([200, 10, 50, 2]);
    expect(a.lambdaMax).toBeCloseTo(lambdaMaxGram(a.train.X, 200, 10), 12);
  });

  it("group train rows by class (+1 first), balanced; multiclass labels are class indices; rows unit norm", async () => {
    const cacheDir = await tmpCache();
    const bin = await loadDataset("synthetic?n=101&d=5&test=20&seed=1", { cacheDir });
    expect(Array.from(bin.train.y)).toEqual([...new Array(51).fill(1), ...new Array(50).fill(-1)]);
    const multi = await loadDataset("synthetic?n=10&d=4&test=300&classes=3&seed=1", { cacheDir });
    expect(Array.from(multi.train.y)).toEqual([0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
    expect(multi.classes).toBe(3);
    expect(new Set(multi.test.y)).toEqual(new Set([0, 1, 2]));
    for (const m of [bin.train, bin.test, multi.train, multi.test])
      for (let i = 0; i < m.n; i++) {
        const row = Array.from(m.X.subarray(i * m.d, (i + 1) * m.d));
        expect(Math.hypot(...row)).toBeCloseTo(1, 6);
      }
  });

  it("reject bad specs with the field named", async () => {
    await expect(loadDataset("synthetic?n=10&d=0")).rejects.toThrow(
      /parameter "d" must be an integer ≥ 1, got "0"/,
    );
    await expect(loadDataset("synthetic?d=3")).rejects.toThrow(/parameter "n" is required/);
    await expect(loadDataset("synthetic?n=10&d=3&classes=1")).rejects.toThrow(
      /"classes" must be an integer ≥ 2/,
    );
    await expect(loadDataset("synthetic?n=10&d=3&colour=red")).rejects.toThrow(/unknown parameter "colour"/);
    await expect(loadDataset("mnist-3v8?x=1")).rejects.toThrow(/unknown parameter "x"/);
    await expect(loadDataset("imagenet")).rejects.toThrow(/unknown dataset "imagenet"/);
    await expect(loadDataset("")).rejects.toThrow(/non-empty string/);
  });
});

describe("λ_max cache", () => {
  it("stores λ_max under the data checksum and reads it back instead of recomputing", async () => {
    const cacheDir = await tmpCache();
    const spec = "synthetic?n=50&d=6&test=5&seed=3";
    const first = await loadDataset(spec, { cacheDir });
    const file = join(cacheDir, `lambda-max-${trainChecksum(first.train)}.json`);
    expect(await readdir(cacheDir)).toEqual([`lambda-max-${trainChecksum(first.train)}.json`]);
    expect(JSON.parse(await readFile(file, "utf8")).lambdaMax).toBe(first.lambdaMax);
    // Plant a different value: a second load must return it (proof the cache is read, not recomputed).
    const entry = JSON.parse(await readFile(file, "utf8"));
    await writeFile(file, JSON.stringify({ ...entry, lambdaMax: 0.123 }));
    expect((await loadDataset(spec, { cacheDir })).lambdaMax).toBe(0.123);
    // A corrupt entry is recomputed and overwritten.
    await writeFile(file, "{ not json");
    expect((await loadDataset(spec, { cacheDir })).lambdaMax).toBe(first.lambdaMax);
  });

  it("defaults to $XDG_CACHE_HOME/unlearn-sweep", () => {
    const saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = "/some/where";
    try {
      expect(defaultCacheDir()).toBe("/some/where/unlearn-sweep");
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
    }
  });
});

describe("datasetConstants (docs/science.md §2)", () => {
  it("binary: m = λn, L = λ_max/4 + λn (data) or 1/4 + λn (bound), η = 1/L, M = 1, δ = 1/n", async () => {
    const ds = await loadDataset("synthetic?n=400&d=8&test=1&seed=2", { cacheDir: await tmpCache() });
    const c = datasetConstants(ds, { lambda: 1e-3, smoothness: "data" });
    expect(c).toEqual({
      n: 400,
      d: 8,
      classes: 2,
      m: 0.4,
      L: ds.lambdaMax / 4 + 0.4,
      eta: 1 / (ds.lambdaMax / 4 + 0.4),
      clip: 1,
      delta: 1 / 400,
    });
    expect(datasetConstants(ds, { lambda: 1e-3, smoothness: "bound" }).L).toBe(0.25 + 0.4);
    expect(datasetConstants(ds).m).toBeCloseTo(400e-6, 15); // defaults: λ = 1e-6, L_data
  });

  it("multiclass: L = 1 + λn for either smoothness, M = 2", async () => {
    const ds = await loadDataset("synthetic?n=300&d=8&test=1&classes=4&seed=2", {
      cacheDir: await tmpCache(),
    });
    for (const smoothness of ["data", "bound"] as const) {
      const c = datasetConstants(ds, { lambda: 1e-2, smoothness });
      expect([c.L, c.clip, c.classes]).toEqual([1 + 3, 2, 4]);
    }
  });

  it("rejects bad λ and smoothness, naming them", async () => {
    const ds = await loadDataset("synthetic?n=30&d=3&seed=2", { cacheDir: await tmpCache() });
    expect(() => datasetConstants(ds, { lambda: 0 })).toThrow(/lambda must be a finite number > 0, got 0/);
    expect(() => datasetConstants(ds, { smoothness: "tight" as "data" })).toThrow(
      /smoothness must be "data" or "bound", got "tight"/,
    );
  });
});
