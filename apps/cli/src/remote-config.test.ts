/** What `pnpm sweep --coordinator` sends: features by content key, never a local path. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FEATURE_FILES, featuresKey } from "@unlearn/core";
import { parseConfig } from "@unlearn/sweep";
import { afterAll, describe, expect, it } from "vitest";
import { remoteConfig } from "./remote.ts";

const dir = mkdtempSync(join(tmpdir(), "unlearn-remote-features-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("remoteConfig", () => {
  it("replaces featuresDir by the folder's content key; other configs go as they are", async () => {
    for (const name of Object.values(FEATURE_FILES)) writeFileSync(join(dir, name), name);
    const base = { name: "c", figure: "fig5", removals: [1], epsilons: [1], sigma: 0.03 };
    const cifar = parseConfig({ ...base, dataset: "cifar10-3v8", featuresDir: dir });
    const sent = await remoteConfig(cifar);
    expect(sent.featuresDir).toBeUndefined();
    expect(sent.featuresKey).toBe(await featuresKey(dir));
    expect(JSON.stringify(sent)).not.toContain(dir);
    const mnist = parseConfig({ ...base, dataset: "mnist-3v8" });
    expect(await remoteConfig(mnist)).toBe(mnist);
  });
});
