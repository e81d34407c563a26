/**
 * `pnpm features cifar10` through the CLI as a child process, on synthetic CIFAR-format batches and a
 * tiny ONNX model with ResNet-18's input/output contract: tar.gz and folder input, bad input named,
 * a run killed with SIGKILL and resumed to the same bytes, and a small sweep on the features.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ExtractSummary, FEATURE_FILES, PARTIAL_DIR } from "@unlearn/core";
import { syntheticCifar10Files, tinyFeatureModel, writeCifar10 } from "@unlearn/core/cifar10-fixtures";
import type { ResultRow } from "@unlearn/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { cli, jsonOf, startCli } from "../../test/cli.ts";

const root = mkdtempSync(join(tmpdir(), "cli-features-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const RECORDS = 30; // per file: 150 train and 30 test images, 3 of each class per file
const files = syntheticCifar10Files(RECORDS, 2);
const archive = writeCifar10(join(root, "tgz"), files, "tar.gz");
const folder = writeCifar10(join(root, "dir"), files, "folder");
const model = join(root, "tiny.onnx");
writeFileSync(model, tinyFeatureModel({ seed: 4 }));

/** Batches of 2 on one thread: 90 model runs, slow enough to be killed in the middle. */
const args = (out: string, source = archive, m = model) => [
  "features",
  "cifar10",
  "--archive",
  source,
  "--model",
  m,
  "--out",
  join(root, out),
  "--records",
  String(RECORDS),
  "--batch",
  "2",
  "--threads",
  "1",
];
const bytesOf = (dir: string) => Object.values(FEATURE_FILES).map((f) => readFileSync(join(root, dir, f)));

describe("pnpm features cifar10", () => {
  it("extracts from the .tar.gz and from the folder to the same bytes, with progress on stderr", async () => {
    const run = await cli([...args("a"), "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const summary = jsonOf<ExtractSummary>(run);
    expect(summary).toMatchObject({ train: 150, test: 30, extracted: 180, upToDate: false });
    expect(run.stderr).toMatch(/\[#{24}\] 100% 180\/180 images {2}[\d.]+ images\/s {2}ETA 0s/);
    const again = await cli(args("b", folder));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      /b: 150 train \+ 30 test rows × 512 features, key [0-9a-f]{16}: 180 images in/,
    );
    expect(bytesOf("b")).toEqual(bytesOf("a"));
  }, 60_000);

  it("exits 2 naming the file for a bad size, a bad label or a model of the wrong shape", async () => {
    const short = new Map(files);
    short.set("data_batch_2.bin", files.get("data_batch_2.bin")!.subarray(100));
    const sized = await cli(args("x", writeCifar10(join(root, "short"), short, "tar.gz")));
    expect(sized.code).toBe(2);
    expect(sized.stderr).toMatch(
      /cifar-10-binary\.tar\.gz:cifar-10-batches-bin\/data_batch_2\.bin: 92090 bytes, expected 92190/,
    );

    const labelled = new Map(files);
    const copy = Buffer.from(files.get("data_batch_5.bin")!);
    copy[3073 * 17] = 200;
    labelled.set("data_batch_5.bin", copy);
    const badLabel = await cli(args("x", writeCifar10(join(root, "label"), labelled, "folder")));
    expect(badLabel.code).toBe(2);
    expect(badLabel.stderr).toMatch(
      /label\/cifar-10-batches-bin\/data_batch_5\.bin: record 17 .* has label 200, outside 0…9/,
    );

    const wide = join(root, "wide.onnx");
    writeFileSync(wide, tinyFeatureModel({ channels: 64 }));
    const badModel = await cli(args("x", archive, wide));
    expect(badModel.code).toBe(2);
    expect(badModel.stderr).toMatch(/wide\.onnx: output "features" has shape \[N, 64\], expected \[N, 512\]/);
    expect(existsSync(join(root, "x", FEATURE_FILES.trainFeatures))).toBe(false);
  }, 60_000);

  it("resumes a run killed with SIGKILL from its finished batches, to the same bytes", async () => {
    const partial = join(root, "killed", PARTIAL_DIR);
    const { child, done } = startCli(args("killed"));
    const chunks = () =>
      existsSync(partial) ? readdirSync(partial).filter((f) => f.endsWith(".f32")).length : 0;
    while (chunks() < 5 && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
    child.kill("SIGKILL");
    const killed = await done;
    expect(killed.signal).toBe("SIGKILL");
    const kept = chunks();
    expect(kept).toBeGreaterThanOrEqual(5);
    expect(kept).toBeLessThan(90);

    const rerun = await cli(args("killed"));
    expect(rerun.code, rerun.stderr).toBe(0);
    const resumed = Number(/resuming: (\d+) of 180 images already extracted/.exec(rerun.stderr)?.[1]);
    expect(resumed).toBeGreaterThanOrEqual(2 * kept); // a batch may land between the count and the kill
    expect(rerun.stdout).toMatch(new RegExp(`: ${180 - resumed} images in`));
    expect(bytesOf("killed")).toEqual(bytesOf("a"));
    expect(existsSync(partial)).toBe(false);
  }, 60_000);

  it("makes features a cifar10-3v8 sweep runs on", async () => {
    const config = join(root, "sweep.json");
    writeFileSync(
      config,
      JSON.stringify({
        name: "features e2e",
        figure: "fig5",
        dataset: "cifar10-3v8",
        featuresDir: join(root, "a"),
        engine: "reference",
        lambda: 0.001,
        chains: 4,
        burnIn: 100,
        removals: [1],
        epsilons: [1],
        sigma: 0.05,
      }),
    );
    const db = join(root, "db");
    const sweep = await cli([
      "sweep",
      "--config",
      config,
      "--db",
      db,
      "--json",
      "--figures-dir",
      join(root, "fig"),
    ]);
    expect(sweep.code, sweep.stderr).toBe(0);
    const { sweep: id, state } = jsonOf<{ sweep: string; state: string }>(sweep);
    expect(state).toBe("done");
    const results = await cli(["results", "--db", db, "--sweep", id, "--json"]);
    const rows = jsonOf<ResultRow[]>(results);
    expect(rows.length).toBeGreaterThan(0);
    // 15 cats and 15 ships in the training files, 3 + 3 in the test file
    for (const r of rows) {
      expect(r.dataset).toBe("cifar10-3v8");
      expect(r.accuracies).toHaveLength(4);
    }
  }, 120_000);
});
