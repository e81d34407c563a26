/**
 * @unlearn/db: the Drizzle schema, its migrations (../drizzle) and the Store over PGlite (embedded default)
 * or PostgreSQL, with the one rule that picks the database (resolveDb) for every command.
 */
export {
  DbLocationError,
  defaultLocation,
  MIGRATIONS_FOLDER,
  maskLocation,
  NoDatabaseError,
  type OpenOptions,
  openStore,
} from "./open.ts";
export { currentOwner, ownerAlive, type SweepOwner } from "./owner.ts";
export {
  DB_HELP,
  type DbSource,
  DEFAULT_DB_DIR,
  dbHelp,
  describeSource,
  isPostgresUrl,
  type ResolvedDb,
  resolveDb,
} from "./resolve.ts";
export * as tables from "./schema.ts";
export { JOB_STATES, SWEEP_STATES } from "./schema.ts";
export type {
  EventRecord,
  JobInput,
  JobRecord,
  JobState,
  ResultsPage,
  Store,
  StoreShare,
  SweepInput,
  SweepJobLink,
  SweepJobRecord,
  SweepLabels,
  SweepState,
  SweepStorage,
  SweepSummary,
} from "./store.ts";
export { meanStd, sortResultRows } from "./store.ts";
