/**
 * Stores the hand-written result rows of @unlearn/figures (every paper figure, MNIST-like numbers) as
 * finished sweeps through the Store's own writes, so the figures page has all five figures to draw
 * without running the hours-long MNIST sweeps.
 */
import type { Store } from "@unlearn/db";
import { FIGURE_IDS } from "@unlearn/figures";
import { fixtureRows } from "@unlearn/figures/fixtures";
import { JobSpec, kindFromName, type ResultRow } from "@unlearn/protocol";

export async function seedFixtures(store: Store): Promise<string[]> {
  const ids: string[] = [];
  for (const figure of FIGURE_IDS.filter((f) => f !== "fig5")) {
    const rows: ResultRow[] = fixtureRows[figure];
    const id = `fixture-${figure}`;
    ids.push(id);
    await store.createSweep({
      id,
      name: `fixture ${figure}`,
      figure,
      config: { fixture: figure },
      seed: "0",
    });
    const jobs = new Map<string, ResultRow>();
    for (const row of rows) jobs.set(row.job, row);
    await store.upsertJobs(
      [...jobs.values()].map((row) => ({
        id: row.job,
        kind: row.kind,
        parentId: null,
        spec: JobSpec.toJSON(
          JobSpec.fromPartial({
            kind: kindFromName(row.kind),
            dataset: row.dataset,
            sigma: row.sigma,
            removals: row.removals,
            steps: row.K ?? 0,
            chains: row.chains,
          }),
        ),
      })),
    );
    await store.linkSweepJobs(
      id,
      rows.map((row) => ({
        jobId: row.job,
        figure: row.figure,
        series: row.series,
        labels: {
          epsilon: row.epsilon,
          alpha: row.alpha,
          K: row.K,
          epsilon0: row.epsilon0,
          batch: row.batch,
        },
      })),
    );
    for (const row of jobs.values()) {
      await store.saveResult({
        jobId: row.job,
        ok: true,
        error: "",
        accuracies: row.accuracies,
        artifactKey: "",
        stepsRun: row.K ?? 0,
        wallMs: row.wallMs,
        msPerStep: 1,
        engine: row.engine,
        worker: "fixture",
      });
    }
    await store.setSweepState(id, "done");
  }
  return ids;
}
