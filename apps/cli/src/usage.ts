/**
 * What every command shares: one error style, the command-line parser around node:util's parseArgs,
 * and the sweep-id lookup. The benchmarks use it too (`@unlearn/cli/usage`).
 *
 * The style: every error is one "error: …" line on stderr; a usage error adds one line pointing at the
 * command's --help (not the whole help). Exit codes: 0 done, 1 a failure, 2 bad input, 130 interrupted.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";

export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** A bad flag, value, file or id given by the user: the command prints it and exits with 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
};

/** Prints a usage error and the pointer to `<command> --help`; returns 2. */
export function usageFailure(command: string, error: unknown, io: Io = processIo): 2 {
  io.err(`error: ${messageOf(error)}`);
  io.err(`(run \`${command} --help\` for the options)`);
  return EXIT.usage;
}

/** Prints a failure (the input was fine, the work was not); returns 1. */
export function failure(error: unknown, io: Io = processIo): 1 {
  io.err(`error: ${messageOf(error)}`);
  return EXIT.failure;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * parseArgs with strict flags, no positionals, and the project's messages. A value that starts with a
 * dash after a flag that takes one (`--chains -5`) is that flag's value, so the command's own range
 * check reports it, instead of Node's "argument is ambiguous".
 */
export function parseFlags<O extends Options>(argv: string[], options: O) {
  const args = joinNegativeValues(argv, options);
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(parseArgsMessage(error));
  }
}

function joinNegativeValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.startsWith("--") ? arg.slice(2) : undefined;
    const next = argv[i + 1];
    if (
      name !== undefined &&
      options[name]?.type === "string" &&
      next !== undefined &&
      /^-\.?\d/.test(next)
    ) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

function parseArgsMessage(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = messageOf(error);
  const quoted = /'([^']+)'/.exec(message)?.[1];
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${quoted ?? message}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      // "Option '--db <value>' argument missing" or "Option '--json' does not take an argument".
      return /argument missing/.test(message)
        ? `${(quoted ?? "").replace(/ <value>$/, "")} needs a value`
        : `${quoted ?? message} takes no value`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${quoted ? `"${quoted}"` : message} (options take the form --name value)`;
    default:
      return message;
  }
}

/** The value of an integer flag, at least `min`; undefined when the flag is absent. */
export function integerFlag(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min)
    throw new UsageError(`${flag}: expected an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
}

/** The sweep an id or id prefix names: an exact id wins, else the one sweep whose id starts with it. */
export function resolveSweep<S extends { id: string }>(wanted: string, sweeps: S[]): S {
  const exact = sweeps.find((s) => s.id === wanted);
  if (exact) return exact;
  const matches = sweeps.filter((s) => s.id.startsWith(wanted));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new UsageError(
      `--sweep "${wanted}" is ambiguous: it starts ${matches.map((s) => s.id).join(", ")}`,
    );
  }
  const known = sweeps.length === 0 ? "none is stored" : `stored: ${sweeps.map((s) => s.id).join(", ")}`;
  throw new UsageError(`--sweep "${wanted}": unknown sweep id (${known})`);
}

/**
 * Opens the database a command is given (resolveDb: --db, UNLEARN_DB, DATABASE_URL, .unlearn/db).
 * Readers pass create: false, so that reading never creates a database. On failure it prints the error
 * and returns the exit code: 2 for a location that cannot hold a database, 1 otherwise.
 */
export async function openCommandStore(
  command: string,
  flag: string | undefined,
  options: { create: boolean },
  io: Io = processIo,
): Promise<import("@unlearn/db").Store | number> {
  // Loaded here: commands that need no database (accountant, the benchmarks) do not load PGlite.
  const db = await import("@unlearn/db");
  const where = db.resolveDb(flag);
  try {
    return await db.openStore(where.location, { create: options.create, source: where.source });
  } catch (error) {
    if (error instanceof db.DbLocationError) return usageFailure(command, error, io);
    return failure(error, io);
  }
}
