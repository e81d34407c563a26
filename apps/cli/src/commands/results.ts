/**
 * `pnpm results [--db PATH|URL] [--sweep ID] [--json | --csv]`: what the database holds.
 * Without --sweep, the stored sweeps; with --sweep (an id or a unique prefix of one), that sweep's results
 * as a table, a JSON array of ResultRow (docs/contracts.md) or CSV. Exit code 2 for a bad command line or an
 * unknown sweep, 1 when the database cannot be opened.
 */
import { parseArgs } from "node:util";
import { openStore, type Store, type SweepSummary } from "@unlearn/db";
import { type CsvValue, type ResultRow, resultsCsv, toCsv } from "@unlearn/protocol";
import { type RemoteTarget, remoteStore, remoteTarget } from "../remote.ts";
import { resolveSweep, UsageError } from "../usage.ts";

const USAGE = `usage: pnpm results [--db PATH|URL] [--sweep ID] [--json | --csv]

Lists the stored sweeps, or with --sweep prints one sweep's results.

options:
  --db PATH|URL   a PGlite directory, memory://, or a postgres:// URL
                  (default: $DATABASE_URL, else $UNLEARN_DB, else .unlearn/db)
  --sweep ID      the sweep to print; a prefix of its id is enough when it is unique
  --coordinator HOST:PORT  read from a cluster coordinator instead ($UNLEARN_COORDINATOR)
  --token T       the coordinator's token ($UNLEARN_TOKEN)
  --json          print JSON (a ResultRow array with --sweep, the sweep list without)
  --csv           print CSV with a header row (accuracies joined with ';')
  --help          show this help`;

/** Where the command writes; tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** A command-line mistake: reported with the usage and exit code 2. */

const SWEEP_COLUMNS = ["id", "name", "figure", "state", "jobs", "done", "failed", "createdAt"] as const;

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  let flags: {
    db?: string;
    sweep?: string;
    json?: boolean;
    csv?: boolean;
    help?: boolean;
    coordinator?: string;
    token?: string;
  };
  let remote: RemoteTarget | undefined;
  try {
    flags = parseArgs({
      args: argv,
      options: {
        db: { type: "string" },
        sweep: { type: "string" },
        coordinator: { type: "string" },
        token: { type: "string" },
        json: { type: "boolean" },
        csv: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
    if (flags.json && flags.csv) throw new UsageError("--json and --csv exclude each other: pick one");
    if (flags.sweep !== undefined && flags.sweep.trim() === "")
      throw new UsageError("--sweep needs a sweep id");
    if (flags.db !== undefined && flags.db.trim() === "") throw new UsageError("--db needs a path or URL");
    remote = remoteTarget(flags);
  } catch (error) {
    io.err(`results: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    io.out(USAGE);
    return 0;
  }

  let store: Store;
  try {
    store = remote ? remoteStore(remote) : await openStore(flags.db);
  } catch (error) {
    io.err(`results: ${(error as Error).message}`);
    return 1;
  }
  try {
    const sweeps = await store.listSweeps();
    if (flags.sweep === undefined) {
      if (flags.json) io.out(JSON.stringify(sweeps, null, 2));
      else if (flags.csv) io.out(toCsv(SWEEP_COLUMNS, sweeps.map(sweepRecord)));
      else if (sweeps.length === 0) io.out(`no sweeps stored in ${store.location}`);
      else io.out(sweepTable(sweeps));
      return 0;
    }
    const sweep = resolveSweep(flags.sweep, sweeps);
    const rows = await store.sweepResults(sweep.id);
    if (flags.json) io.out(JSON.stringify(rows, null, 2));
    else if (flags.csv) io.out(resultsCsv(rows));
    else io.out(resultTable(sweep, rows));
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`results: ${error.message}`);
      return 2;
    }
    throw error;
  } finally {
    await store.close();
  }
}

// ---- formatting ----

/** A number in at most `digits` significant digits, without trailing zeros; null as a dash. */
function num(value: number | null, digits = 4): string {
  if (value === null) return "–";
  if (value === 0 || !Number.isFinite(value)) return String(value);
  return String(Number(value.toPrecision(digits)));
}

function table(headers: string[], rows: string[][], rightAligned: ReadonlySet<number>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

const isoSeconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

function sweepTable(sweeps: SweepSummary[]): string {
  const rows = sweeps.map((s) => [
    s.id,
    s.name,
    s.figure,
    s.state,
    `${s.done}/${s.jobs}`,
    String(s.failed),
    isoSeconds(s.createdAt),
  ]);
  return table(["id", "name", "figure", "state", "done/jobs", "failed", "created"], rows, new Set([4, 5]));
}

function resultTable(sweep: SweepSummary, rows: ResultRow[]): string {
  const head = `sweep ${sweep.id} (${sweep.name}, ${sweep.figure}, ${sweep.state}): ${rows.length} result${rows.length === 1 ? "" : "s"}, ${sweep.done}/${sweep.jobs} jobs done, ${sweep.failed} failed`;
  if (rows.length === 0) return head;
  const cells = rows.map((r) => [
    r.kind,
    r.series,
    r.dataset,
    num(r.sigma),
    num(r.epsilon),
    String(r.removals),
    r.K === null ? "–" : String(r.K),
    String(r.chains),
    `${r.accuracyMean.toFixed(4)} ± ${r.accuracyStd.toFixed(4)}`,
  ]);
  const headers = ["kind", "series", "dataset", "σ", "ε", "S", "K", "chains", "accuracy (mean ± std)"];
  return `${head}\n\n${table(headers, cells, new Set([3, 4, 5, 6, 7]))}`;
}

function sweepRecord(s: SweepSummary): Record<(typeof SWEEP_COLUMNS)[number], CsvValue> {
  return { ...s, createdAt: s.createdAt.toISOString() };
}
