/** Features by content key: the operator's FEATURES_DIRS, and a remote config that cannot name a path. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FEATURE_FILES } from "@unlearn/core";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, checkFeatures, parseConfig } from "./config.ts";
import { featuresRegistry, resolveRemoteFeatures } from "./features-registry.ts";
import { sweepIdOf } from "./planner.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A folder with the four feature files (their bytes are all the key hashes). */
function featuresDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), "unlearn-features-"));
  dirs.push(dir);
  for (const name of Object.values(FEATURE_FILES)) writeFileSync(join(dir, name), `${tag} ${name}`);
  return dir;
}

const config = (extra: object) =>
  parseConfig({
    name: "cifar",
    figure: "fig5",
    dataset: "cifar10-3v8",
    removals: [1],
    epsilons: [1],
    sigma: 0.03,
    ...extra,
  });

describe("features registry", () => {
  it("keys FEATURES_DIRS by content; a remote config's key becomes the folder, with the same sweep id", async () => {
    const a = featuresDir("a");
    const b = featuresDir("b");
    const registry = await featuresRegistry({ FEATURES_DIRS: `${a}:${b}` });
    expect([...registry.values()].sort()).toEqual([a, b].sort());
    const [keyA] = [...registry].find(([, dir]) => dir === a)!;
    const resolved = resolveRemoteFeatures(config({ featuresKey: keyA }), registry);
    expect(resolved.featuresDir).toBe(a);
    expect(resolved.featuresKey).toBeUndefined();
    // The sweep a local run of the same folder makes.
    expect(sweepIdOf(resolved, keyA)).toBe(sweepIdOf(config({ featuresDir: "/elsewhere/features" }), keyA));
  });

  it("refuses a path, an unregistered key, and a relative folder in FEATURES_DIRS", async () => {
    const registry = await featuresRegistry({ FEATURES_DIRS: featuresDir("c") });
    expect(() => resolveRemoteFeatures(config({ featuresDir: "/etc" }), registry)).toThrow(
      /featuresDir: a sweep sent to a coordinator cannot name a folder on its host; refer to the features by featuresKey \(registered: [0-9a-f]{64}\)/,
    );
    const unknown = "0".repeat(64);
    expect(() => resolveRemoteFeatures(config({ featuresKey: unknown }), new Map())).toThrow(
      /featuresKey: 0{64} is not served by this coordinator \(none is registered \(the operator lists features folders in FEATURES_DIRS\)\)/,
    );
    expect(() => resolveRemoteFeatures(config({ featuresKey: unknown }), registry)).toThrow(ConfigError);
    await expect(featuresRegistry({ FEATURES_DIRS: "relative/dir" })).rejects.toThrow(/not an absolute path/);
    expect(
      resolveRemoteFeatures(parseConfig({ ...config({}), dataset: "mnist-3v8" }), registry).featuresDir,
    ).toBeUndefined();
  });

  it("a config's featuresKey is 64 hex digits, and only a coordinator resolves it", () => {
    expect(() => config({ featuresKey: "abc" })).toThrow(/featuresKey: expected the 64 hex digits/);
    expect(() => checkFeatures(config({ featuresKey: "f".repeat(64) }), "c.json")).toThrow(
      /only a coordinator resolves/,
    );
  });
});
