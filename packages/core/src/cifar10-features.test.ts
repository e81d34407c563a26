import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  type ExtractCifar10Options,
  type ExtractProgress,
  extractCifar10Features,
  PARTIAL_DIR,
  PROVENANCE_FILE,
} from "./cifar10-features.ts";
import { syntheticCifar10Files, tinyFeatureModel, writeCifar10 } from "./cifar10-fixtures.ts";
import { loadFeatureModel } from "./cifar10-model.ts";
import { CifarPreprocessor, MODEL_IMAGE_FLOATS } from "./cifar10-preprocess.ts";
import { loadDataset } from "./dataset.ts";
import { FEATURE_FILES, FEATURES_MANIFEST, featuresKey } from "./features.ts";
import { readNpy } from "./npy.ts";

const root = mkdtempSync(join(tmpdir(), "cifar10-features-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const RECORDS = 6; // per file: 30 train and 6 test images
const files = syntheticCifar10Files(RECORDS, 9);
const archive = writeCifar10(join(root, "archive"), files, "tar.gz");
const folder = writeCifar10(join(root, "folder"), files, "folder");
const model = join(root, "tiny.onnx");
writeFileSync(model, tinyFeatureModel({ seed: 3 }));

const base = (out: string, over: Partial<ExtractCifar10Options> = {}): ExtractCifar10Options => ({
  archive,
  model,
  out: join(root, out),
  batch: 4,
  threads: 1,
  recordsPerFile: RECORDS,
  ...over,
});
const bytesOf = (dir: string) => Object.values(FEATURE_FILES).map((f) => readFileSync(join(dir, f)));

describe("extractCifar10Features", () => {
  let full: string;

  it("writes the features directory: 50000-style train rows in file order, test rows, labels, manifest", async () => {
    const progress: ExtractProgress[] = [];
    const summary = await extractCifar10Features(base("full", { onProgress: (p) => progress.push(p) }));
    full = summary.out;
    expect(summary).toMatchObject({ train: 30, test: 6, upToDate: false, extracted: 36 });
    expect(progress.at(-1)).toMatchObject({ done: 36, total: 36, resumed: 0 });
    expect(progress.map((p) => p.done)).toEqual([0, 4, 8, 12, 16, 20, 24, 28, 30, 34, 36]);
    expect(readdirSync(full).sort()).toEqual(
      [...Object.values(FEATURE_FILES), FEATURES_MANIFEST, PROVENANCE_FILE].sort(),
    );
    expect(summary.key).toBe(await featuresKey(full));

    const trainX = await readNpy(join(full, FEATURE_FILES.trainFeatures));
    const trainY = await readNpy(join(full, FEATURE_FILES.trainLabels));
    expect([trainX.dtype, trainX.shape, trainY.dtype, trainY.shape]).toEqual(["<f4", [30, 512], "<i8", [30]]);
    expect(Array.from(trainY.data, Number).slice(0, 8)).toEqual([0, 3, 6, 9, 2, 5, 1, 4]); // files 1 then 2
    expect((await readNpy(join(full, FEATURE_FILES.testFeatures))).shape).toEqual([6, 512]);

    // row 13 (data_batch_3, record 1) is the model's output on that image, preprocessed on its own
    const direct = await loadFeatureModel(model, { threads: 1 });
    const input = new Float32Array(MODEL_IMAGE_FLOATS);
    new CifarPreprocessor().image(files.get("data_batch_3.bin")!, 1, input, 0);
    const want = await direct.run(input, 1);
    await direct.release();
    const row = (trainX.data as Float32Array).subarray(13 * 512, 14 * 512);
    for (let k = 0; k < 512; k += 37) expect(row[k]).toBeCloseTo(want[k], 5);
  });

  it("loads as cifar10-multi (10 classes) and cifar10-3v8 (cats then ships)", async () => {
    const cacheDir = join(root, "cache");
    const multi = await loadDataset("cifar10-multi", { featuresDir: full, cacheDir });
    expect([multi.train.n, multi.train.d, multi.test.n, multi.classes]).toEqual([30, 512, 6, 10]);
    const binary = await loadDataset("cifar10-3v8", { featuresDir: full, cacheDir });
    const labels = Array.from((await readNpy(join(full, FEATURE_FILES.trainLabels))).data, Number);
    const cats = labels.filter((l) => l === 3).length;
    const ships = labels.filter((l) => l === 8).length;
    expect(binary.train.n).toBe(cats + ships);
    expect(Array.from(binary.train.y)).toEqual([...Array(cats).fill(1), ...Array(ships).fill(-1)]);
    expect(binary.lambdaMax).toBeGreaterThan(0);
  });

  it("gives the same bytes from the extracted folder, and skips work already done", async () => {
    const fromFolder = await extractCifar10Features(base("folder-out", { archive: folder }));
    expect(bytesOf(fromFolder.out)).toEqual(bytesOf(full));
    const again = await extractCifar10Features(base("folder-out", { archive: folder }));
    expect(again).toMatchObject({ upToDate: true, extracted: 0, key: fromFolder.key });
  });

  it("resumes after an interruption with the same bytes, and starts over when the batch size changed", async () => {
    const stop = new AbortController();
    const opts = base("resumed", {
      signal: stop.signal,
      onProgress: (p) => p.done >= 12 && stop.abort(),
    });
    await expect(extractCifar10Features(opts)).rejects.toThrow(/aborted/i);
    const work = join(opts.out, PARTIAL_DIR);
    const kept = readdirSync(work).filter((f) => f.endsWith(".f32"));
    expect(kept.length).toBeGreaterThanOrEqual(3);
    expect(existsSync(join(opts.out, FEATURE_FILES.trainFeatures))).toBe(false);

    const notes: string[] = [];
    const resumed = await extractCifar10Features({
      ...opts,
      signal: undefined,
      onProgress: undefined,
      onNote: (t) => notes.push(t),
    });
    expect(notes).toEqual([`resuming: ${kept.length * 4} of 36 images already extracted in ${work}`]);
    expect(resumed.extracted).toBe(36 - kept.length * 4);
    expect(bytesOf(resumed.out)).toEqual(bytesOf(full));
    expect(existsSync(work)).toBe(false);

    const stop2 = new AbortController();
    const other = base("rebatched", {
      signal: stop2.signal,
      onProgress: (p) => p.done >= 8 && stop2.abort(),
    });
    await expect(extractCifar10Features(other)).rejects.toThrow(/aborted/i);
    const notes2: string[] = [];
    const rebatched = await extractCifar10Features({
      ...other,
      batch: 5,
      signal: undefined,
      onProgress: undefined,
      onNote: (t) => notes2.push(t),
    });
    expect(notes2).toEqual([
      `${join(other.out, PARTIAL_DIR)}: made for another model, archive or batch size; starting over`,
    ]);
    expect(rebatched.extracted).toBe(36);
  });
});
