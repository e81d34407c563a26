/**
 * Which database a command uses: the one rule for every command (sweep, results, figures, the
 * dashboard, the coordinator), so that a sweep and the command that reads it never disagree.
 */
import { resolve } from "node:path";

export type DbSource = "--db" | "UNLEARN_DB" | "DATABASE_URL" | "default";

export interface ResolvedDb {
  /** a PGlite directory (absolute), "memory://", or a postgres:// URL */
  location: string;
  /** where it came from */
  source: DbSource;
}

/** The default PGlite directory, under the working directory. */
export const DEFAULT_DB_DIR = ".unlearn/db";

/** For each command's --help: the order, in the same words everywhere. */
export const DB_HELP = `where results are stored: a PGlite directory, memory:// (in this process only,
gone when it exits) or a postgres:// URL. Without --db: $UNLEARN_DB, else $DATABASE_URL,
else ${DEFAULT_DB_DIR} under the working directory.`;

/** DB_HELP laid out under a flag column of `indent` spaces. */
export function dbHelp(indent: number): string {
  return DB_HELP.split("\n").join(`\n${" ".repeat(indent)}`);
}

/**
 * --db, then UNLEARN_DB (this tool's own variable), then DATABASE_URL (the usual one for PostgreSQL,
 * often set for other tools too), then .unlearn/db. An empty value counts as not set.
 */
export function resolveDb(flag?: string | null, env: NodeJS.ProcessEnv = process.env): ResolvedDb {
  const pick = (value: string | undefined | null, source: DbSource): ResolvedDb | null =>
    value !== undefined && value !== null && value.trim() !== ""
      ? { location: normalise(value.trim()), source }
      : null;
  return (
    pick(flag, "--db") ??
    pick(env.UNLEARN_DB, "UNLEARN_DB") ??
    pick(env.DATABASE_URL, "DATABASE_URL") ?? { location: resolve(DEFAULT_DB_DIR), source: "default" }
  );
}

/** "from --db", "from UNLEARN_DB", …: for messages that say where a location came from. */
export function describeSource(source: DbSource): string {
  return source === "default"
    ? "the default: no --db, UNLEARN_DB or DATABASE_URL given"
    : source === "--db"
      ? "from --db"
      : `from $${source}`;
}

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

export const MEMORY = "memory://";

function normalise(location: string): string {
  if (location === MEMORY || isPostgresUrl(location)) return location;
  return resolve(location);
}
