/** What the commands share: the error for a bad command line (exit code 2) and the sweep-id lookup. */

/** A bad flag, value or id on the command line: the command prints the message and exits with 2. */
export class UsageError extends Error {
  override name = "UsageError";
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
