/**
 * `pnpm figures --sweep ID [--out DIR] [--db PATH|URL] [--format svg|png|both]`: draws a stored sweep's
 * paper figure (the figure is read from its rows) as SVG and PNG with @unlearn/figures, and prints the
 * paths written. A sweep still running is drawn from the results stored so far.
 * Exit code 2 for a bad command line or an unknown sweep, 1 when the database cannot be opened or the
 * sweep has nothing to draw.
 */
import { dbHelp, type Store } from "@unlearn/db";
import { FigureError, type FigureFormat, figureGroups, renderFigure } from "@unlearn/figures";
import {
  EXIT,
  failure,
  type Io,
  openCommandStore,
  parseFlags as parseCommandLine,
  resolveSweep,
  UsageError,
  usageFailure,
} from "../usage.ts";

const FORMATS: readonly FigureFormat[] = ["svg", "png", "both"];
const COMMAND = "pnpm figures";

const USAGE = `usage: pnpm figures --sweep ID [--out DIR] [--db PATH|URL] [--format svg|png|both]

Draws a stored sweep's paper figure (3a, 3b, 3c, 4 or 5, read from its results) as the paper draws it.

options:
  --sweep ID        the sweep to draw; a prefix of its id is enough when it is unique
  --out DIR         where to write <figure>.svg and <figure>.png (default: .unlearn/figures/<sweep id>);
                    a sweep over several datasets gets <figure>-<dataset>.svg/.png
  --db PATH|URL     ${dbHelp(20)}
  --format FORMAT   svg, png or both (default both)
  --help            show this help`;

/** What the command reads from the database (a Store; tests pass their own). */
export type SweepSource = Pick<Store, "listSweeps" | "sweepResults" | "close" | "location">;

export interface FiguresDeps {
  openStore?: (location?: string) => Promise<SweepSource>;
  out?: (text: string) => void;
  err?: (text: string) => void;
}

/** A command-line mistake: reported with exit code 2. */

interface Flags {
  sweep: string;
  out?: string;
  db?: string;
  format: FigureFormat;
  help: boolean;
}

function parseFlags(argv: string[]): Flags {
  const values = parseCommandLine(argv, {
    sweep: { type: "string" },
    out: { type: "string" },
    db: { type: "string" },
    format: { type: "string", default: "both" },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) return { sweep: "", format: "both", help: true };
  if (values.sweep === undefined || values.sweep.trim() === "")
    throw new UsageError("--sweep ID is required");
  for (const name of ["out", "db"] as const) {
    if (values[name] !== undefined && values[name].trim() === "")
      throw new UsageError(`--${name} needs a value`);
  }
  const format = values.format as FigureFormat;
  if (!FORMATS.includes(format)) {
    throw new UsageError(`--format must be one of ${FORMATS.join(", ")}, got "${values.format}"`);
  }
  return { sweep: values.sweep, out: values.out, db: values.db, format, help: false };
}

export async function run(argv: string[], deps: FiguresDeps = {}): Promise<number> {
  const out = deps.out ?? ((text: string) => process.stdout.write(`${text}\n`));
  const err = deps.err ?? ((text: string) => process.stderr.write(`${text}\n`));
  let flags: Flags;
  const io: Io = { out, err };
  try {
    flags = parseFlags(argv);
  } catch (error) {
    return usageFailure(COMMAND, error, io);
  }
  if (flags.help) {
    out(USAGE);
    return EXIT.ok;
  }

  let store: SweepSource;
  if (deps.openStore) {
    try {
      store = await deps.openStore(flags.db);
    } catch (error) {
      return failure(error, io);
    }
  } else {
    const opened = await openCommandStore(COMMAND, flags.db, { create: false }, io);
    if (typeof opened === "number") return opened;
    store = opened;
  }
  try {
    const sweep = resolveSweep(flags.sweep, await store.listSweeps());
    const rows = await store.sweepResults(sweep.id);
    const progress = `${sweep.done} of ${sweep.jobs} jobs done`;
    if (rows.length === 0) {
      return failure(
        `sweep ${sweep.id} (${sweep.name}) has no results yet (${progress}, state ${sweep.state})`,
        io,
      );
    }
    const groups = figureGroups(rows);
    if (groups.length === 0) {
      return failure(
        `sweep ${sweep.id} (${sweep.name}) has results only for jobs its figure builds on, none that it draws yet (${progress})`,
        io,
      );
    }
    if (sweep.done < sweep.jobs)
      out(`sweep ${sweep.id} is not finished (${progress}): drawing the results so far`);
    const outDir = flags.out ?? `.unlearn/figures/${fileSafe(sweep.id)}`;
    for (const group of groups) {
      const written = await renderFigure(group.rows, group.figure, {
        outDir,
        // One figure keeps the plain name; several datasets (or figures) each get their own files.
        basename: fileSafe(groups.length === 1 ? group.figure : `${group.figure}-${group.dataset}`),
        dataset: group.dataset,
        format: flags.format,
      });
      for (const path of [written.svg, written.png]) if (path) out(path);
    }
    return 0;
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(COMMAND, error, io);
    if (error instanceof FigureError) return failure(`sweep ${flags.sweep}: ${error.message}`, io);
    throw error;
  } finally {
    await store.close();
  }
}

/**
 * A file name made from stored text (a dataset string's seed is free text: "seed=../../x" must not
 * leave the output folder): characters other than letters, digits, . _ = - become _, no leading dot,
 * at most 120 characters.
 */
export function fileSafe(text: string): string {
  const safe = text
    .replace(/[^\w.=-]+/g, "_")
    .replace(/^\.+/, "_")
    .slice(0, 120);
  return safe === "" ? "_" : safe;
}
