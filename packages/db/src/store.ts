/**
 * The Store: every read and write the coordinator, the sweep runner, the CLI and the dashboard make, written
 * once against Drizzle's PostgreSQL dialect so the PGlite and the postgres-js drivers share it. Each job
 * of the Store lives in its own module; createStore composes them over one database:
 *   store-sweeps.ts     sweeps and their summaries
 *   store-jobs.ts       jobs, links and results (writes)
 *   store-artifacts.ts  chains: writes, reads, what a sweep holds, freeing them
 *   store-events.ts     the event log
 *   store-results.ts    a sweep's results and job records (reads)
 */
import { artifactOps } from "./store-artifacts.ts";
import { eventOps } from "./store-events.ts";
import { jobOps } from "./store-jobs.ts";
import { resultOps } from "./store-results.ts";
import { sweepOps } from "./store-sweeps.ts";
import type { Db, Store, StoreShare } from "./store-types.ts";

export { meanStd } from "./store-check.ts";
export { sortResultRows } from "./store-results.ts";
export type * from "./store-types.ts";

/** Builds a Store over a migrated Drizzle database; `closeClient` releases the driver's connection(s). */
export function createStore(
  db: Db,
  info: { kind: "pglite" | "postgres"; location: string; share?: StoreShare },
  closeClient: () => Promise<void>,
): Store {
  let closed = false;
  const context = {
    db,
    live: () => {
      if (closed) throw new Error(`store ${info.location} is closed`);
    },
  };
  return {
    kind: info.kind,
    location: info.location,
    share: info.share,
    ...sweepOps(context),
    ...jobOps(context),
    ...artifactOps(context),
    ...eventOps(context),
    ...resultOps(context),
    async close() {
      if (closed) return;
      closed = true;
      await closeClient();
    },
  };
}
