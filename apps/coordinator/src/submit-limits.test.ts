/**
 * Submission checks of the coordinator: a request over a limit, or naming a path on the coordinator's
 * host, is refused as INVALID_ARGUMENT (RequestError "invalid") before anything is loaded or planned.
 */
import { openStore, type Store } from "@unlearn/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterLink } from "./link.ts";
import { SweepManager } from "./sweeps.ts";

const fig5 = (extra: object) =>
  JSON.stringify({
    name: "limits",
    figure: "fig5",
    dataset: "synthetic?n=100&d=4&test=10",
    removals: [1],
    epsilons: [1],
    sigma: 0.03,
    ...extra,
  });

let store: Store;
let sweeps: SweepManager;
const saved = { ...process.env };

beforeAll(async () => {
  store = await openStore("memory://");
  process.env.SWEEP_MAX_CHAINS = "50";
  process.env.FEATURES_DIRS = "";
  // No link: every request here is refused before a sweep would start.
  sweeps = new SweepManager(store, {} as ClusterLink);
});
afterAll(async () => {
  process.env = saved;
  await store.close();
});

describe("SweepManager.submit refuses unbounded or host-path requests", () => {
  it("names the limit, the value and the variable that raises it", async () => {
    await expect(sweeps.submit(fig5({ chains: 51 }))).rejects.toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(
        /^chains: 51 is above this coordinator's limit of 50 \(SWEEP_MAX_CHAINS/,
      ),
    });
    await expect(sweeps.submit(fig5({ dataset: "synthetic?n=10000000&d=100", chains: 10 }))).rejects.toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(/SWEEP_MAX_SYNTHETIC_CELLS/),
    });
    expect(await store.listSweeps()).toEqual([]);
  });

  it("refuses a featuresDir (a path on its host) and an unregistered featuresKey", async () => {
    await expect(
      sweeps.submit(fig5({ dataset: "cifar10-3v8", featuresDir: "/etc", chains: 10 })),
    ).rejects.toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(/^featuresDir: a sweep sent to a coordinator cannot name a folder/),
    });
    await expect(
      sweeps.submit(fig5({ dataset: "cifar10-3v8", featuresKey: "a".repeat(64), chains: 10 })),
    ).rejects.toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(/not served by this coordinator \(none is registered/),
    });
  });
});
