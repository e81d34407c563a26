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
    await expect(
      sweeps.submit(fig5({ dataset: "synthetic?n=10000000&d=100", chains: 10 })),
    ).rejects.toMatchObject({
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

describe("SweepManager reads a sweep's events by type, and finds sweeps on the id index", () => {
  it("an ended sweep's end and a cancelled sweep's non-resumption come from its events of those types", async () => {
    const id = "ended-0123456789";
    await store.createSweep({ id, name: "ended", figure: "fig5", config: {}, seed: "1" });
    await store.appendEvent({ sweepId: id, type: "submitted", payload: { config: {} } });
    for (let i = 0; i < 5; i++) await store.appendEvent({ sweepId: id, type: "queued", payload: { i } });
    await store.appendEvent({ sweepId: id, type: "cancelled" });
    await store.appendEvent({ sweepId: id, type: "done", payload: { ran: 3, reused: 2, wallMs: 1234 } });
    await store.setSweepState(id, "interrupted", { error: "cancelled" });
    const sent: unknown[] = [];
    await sweeps.watch(
      "ended-01",
      (e) => sent.push(e),
      () => {},
    );
    expect(sent).toEqual([
      expect.objectContaining({
        sweepId: id,
        event: {
          $case: "done",
          value: expect.objectContaining({ ran: 3, reused: 2, wallMs: 1234, cancelled: true }),
        },
      }),
    ]);
    // Cancelled since its last submission: a restarted coordinator leaves it stopped.
    expect(await sweeps.resume()).toEqual([]);
  });

  it("find: an exact id, a unique prefix, an ambiguous one, an unknown one", async () => {
    for (const id of ["find-aa", "find-ab"])
      await store.createSweep({ id, name: id, figure: "fig5", config: {}, seed: "1" });
    expect((await sweeps.find("find-aa")).id).toBe("find-aa");
    expect((await sweeps.find("find-ab")).id).toBe("find-ab");
    await expect(sweeps.find("find-a")).rejects.toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(/ambiguous: find-a[ab], find-a[ab]$/),
    });
    await expect(sweeps.find("nope")).rejects.toMatchObject({ kind: "not-found" });
  });
});
