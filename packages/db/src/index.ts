/**
 * @unlearn/db: the Drizzle schema, its migrations (../drizzle) and the Store over PGlite (embedded default)
 * or PostgreSQL. The coordinator is the only writer; the CLI and dashboard read.
 */
export { defaultLocation, isPostgresUrl, MIGRATIONS_FOLDER, maskLocation, openStore } from "./open.ts";
export { currentOwner, ownerAlive, type SweepOwner } from "./owner.ts";
export * as tables from "./schema.ts";
export { JOB_STATES, SWEEP_STATES } from "./schema.ts";
export type {
  EventRecord,
  JobInput,
  JobRecord,
  JobState,
  Store,
  SweepInput,
  SweepJobLink,
  SweepLabels,
  SweepState,
  SweepSummary,
} from "./store.ts";
export { meanStd } from "./store.ts";
