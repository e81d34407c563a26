/**
 * `pnpm results [--db PATH|URL] [--sweep ID] [--json | --csv]`: what the database holds.
 * Without --sweep, the stored sweeps; with --sweep (an id or a unique prefix of one), that sweep's results
 * as a table, a JSON array of ResultRow (docs/contracts.md) or CSV. `--storage` says how many bytes each
 * sweep (or the one) holds; `--free-chains --sweep ID` deletes that sweep's stored chains. Exit code 2
 * for a bad command line or an unknown sweep, 1 when the database cannot be opened.
 */
import { dbHelp, type Store, type SweepStorage, type SweepSummary } from "@unlearn/db";
import { type CsvValue, type ResultRow, resultsCsv, toCsv } from "@unlearn/protocol";
import { remoteStore, remoteTarget } from "../remote.ts";
import {
  EXIT,
  type Io,
  openCommandStore,
  parseFlags,
  processIo,
  resolveSweep,
  UsageError,
  usageFailure,
} from "../usage.ts";

const USAGE = `usage: pnpm results [--db PATH|URL] [--sweep ID] [--json | --csv]
       pnpm results [--db PATH|URL] --storage [--sweep ID] [--json]
       pnpm results [--db PATH|URL] --free-chains --sweep ID

Lists the stored sweeps, or with --sweep prints one sweep's results. Reads only (but --free-chains):
it never creates a database, and it reads a PGlite directory while a sweep writes to it.

options:
  --db PATH|URL   ${dbHelp(18)}
  --sweep ID      the sweep to print; a prefix of its id is enough when it is unique
  --coordinator HOST:PORT  read from a cluster coordinator instead ($UNLEARN_COORDINATOR)
  --token T       the coordinator's token ($UNLEARN_TOKEN)
  --json          print JSON (a ResultRow array with --sweep, the sweep list without)
  --csv           print CSV with a header row (accuracies joined with ';')
  --storage       the bytes each sweep (or the --sweep one) holds: its jobs' chains and its rows
  --free-chains   delete the --sweep's stored chains, except those a job not yet run starts from
                  (results stay; a later sweep that needs freed chains reruns the job that made them)
  --help          show this help`;

export type { Io };

const SWEEP_COLUMNS = ["id", "name", "figure", "state", "jobs", "done", "failed", "createdAt"] as const;

const COMMAND = "pnpm results";

function parse(argv: string[]) {
  const flags = parseFlags(argv, {
    db: { type: "string" },
    sweep: { type: "string" },
    coordinator: { type: "string" },
    token: { type: "string" },
    json: { type: "boolean" },
    csv: { type: "boolean" },
    storage: { type: "boolean" },
    "free-chains": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (flags.json && flags.csv) throw new UsageError("--json and --csv exclude each other: pick one");
  if (flags.storage && flags["free-chains"])
    throw new UsageError("--storage and --free-chains exclude each other: pick one");
  if ((flags.storage || flags["free-chains"]) && flags.csv)
    throw new UsageError(
      `--csv prints results; ${flags.storage ? "--storage" : "--free-chains"} takes --json or nothing`,
    );
  if (flags["free-chains"] && flags.sweep === undefined)
    throw new UsageError("--free-chains needs --sweep ID (the sweep whose chains to delete)");
  if (flags.sweep !== undefined && flags.sweep.trim() === "")
    throw new UsageError("--sweep needs a sweep id");
  if (flags.db !== undefined && flags.db.trim() === "") throw new UsageError("--db needs a path or URL");
  const remote = remoteTarget(flags);
  if (remote && flags["free-chains"])
    throw new UsageError(
      "--free-chains deletes from the database itself: pass --db URL (the coordinator's DATABASE_URL) instead of --coordinator",
    );
  return { ...flags, remote };
}

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  let flags: ReturnType<typeof parse>;
  try {
    flags = parse(argv);
  } catch (error) {
    return usageFailure(COMMAND, error, io);
  }
  if (flags.help) {
    io.out(USAGE);
    return EXIT.ok;
  }
  const opened = flags.remote
    ? remoteStore(flags.remote)
    : await openCommandStore(COMMAND, flags.db, { create: false }, io);
  if (typeof opened === "number") return opened;
  const store: Store = opened;
  try {
    if (flags.storage || flags["free-chains"]) return await storage(store, flags, io);
    if (flags.sweep === undefined) {
      const sweeps = await store.listSweeps();
      if (flags.json) io.out(JSON.stringify(sweeps, null, 2));
      else if (flags.csv) io.out(toCsv(SWEEP_COLUMNS, sweeps.map(sweepRecord)));
      else if (sweeps.length === 0) io.out(`no sweeps stored in ${store.location}`);
      else io.out(sweepTable(sweeps));
      return EXIT.ok;
    }
    const sweep = resolveSweep(flags.sweep, await store.listSweeps());
    const rows = await store.sweepResults(sweep.id);
    if (flags.json) io.out(JSON.stringify(rows, null, 2));
    else if (flags.csv) io.out(resultsCsv(rows));
    else io.out(resultTable(sweep, rows));
    return EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(COMMAND, error, io);
    throw error;
  } finally {
    await store.close();
  }
}

/** --storage and --free-chains: what sweeps hold, and freeing one's chains. */
async function storage(store: Store, flags: ReturnType<typeof parse>, io: Io): Promise<number> {
  const sweeps = await store.listSweeps();
  const chosen = flags.sweep === undefined ? sweeps : [resolveSweep(flags.sweep, sweeps)];
  if (flags["free-chains"]) {
    const sweep = chosen[0]!;
    const freed = await store.freeChains(sweep.id);
    const left = await store.sweepStorage(sweep.id);
    if (flags.json) io.out(JSON.stringify({ sweepId: sweep.id, freed, left }, null, 2));
    else
      io.out(
        `sweep ${sweep.id}: freed ${freed.chains} chain${freed.chains === 1 ? "" : "s"} (${bytes(freed.bytes)}); ` +
          `it holds ${bytes(left.totalBytes)} now (${left.chains} chains kept: jobs not yet run start from them)`,
      );
    return EXIT.ok;
  }
  const held: SweepStorage[] = [];
  for (const s of chosen) held.push(await store.sweepStorage(s.id));
  if (flags.json) io.out(JSON.stringify(held, null, 2));
  else if (held.length === 0) io.out(`no sweeps stored in ${store.location}`);
  else io.out(storageTable(sweeps, held));
  return EXIT.ok;
}

// ---- formatting ----

/** Bytes in B, kB, MB or GB (powers of 1000), three significant digits. */
export function bytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${Number(n.toPrecision(3))} ${units[i]}`;
}

function storageTable(sweeps: SweepSummary[], held: SweepStorage[]): string {
  const name = new Map(sweeps.map((s) => [s.id, s.name]));
  const rows = held.map((h) => [
    h.sweepId,
    name.get(h.sweepId) ?? "",
    String(h.jobs),
    String(h.chains),
    bytes(h.chainBytes),
    bytes(h.rowBytes),
    bytes(h.totalBytes),
    h.jobs === 0 ? "–" : bytes(Math.round(h.totalBytes / h.jobs)),
  ]);
  const headers = ["id", "name", "jobs", "chains", "chain bytes", "row bytes", "total", "per job"];
  const note =
    "\n(a job shared by several sweeps counts for each; --free-chains --sweep ID frees one's chains)";
  return `${table(headers, rows, new Set([2, 3, 4, 5, 6, 7]))}${note}`;
}

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
  const stopped =
    sweep.state === "interrupted"
      ? `\ninterrupted${sweep.error ? `: ${sweep.error}` : ""}; running its sweep command again resumes it`
      : sweep.state === "failed" && sweep.error
        ? `\nfailed: ${sweep.error}`
        : "";
  const head = `sweep ${sweep.id} (${sweep.name}, ${sweep.figure}, ${sweep.state}): ${rows.length} result${rows.length === 1 ? "" : "s"}, ${sweep.done}/${sweep.jobs} jobs done, ${sweep.failed} failed${stopped}`;
  if (rows.length === 0) return head;
  // More rows than jobs puzzles readers (Figure 5: 25 results, 23 jobs): a row is a point, not a job.
  const note =
    rows.length > sweep.jobs
      ? "\n(a result is one point of a series, and one job can be several points: e.g. an S = 1 unlearning job" +
        "\n with K = 1 serves every ε; jobs the figure starts from are listed too. See docs/science.md)"
      : "";
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
  return `${head}${note}\n\n${table(headers, cells, new Set([3, 4, 5, 6, 7]))}`;
}

function sweepRecord(s: SweepSummary): Record<(typeof SWEEP_COLUMNS)[number], CsvValue> {
  return { ...s, createdAt: s.createdAt.toISOString() };
}
