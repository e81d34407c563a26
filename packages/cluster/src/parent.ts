/**
 * `pnpm worker` / `pnpm coordinator` run node under pnpm; a SIGKILL sent to pnpm's pid (what a shell
 * script's `kill -9 $!` does) would leave the node process running as an orphan. Each process exits
 * when its launcher dies, as if it had been killed with it.
 */
export function exitWithParent(onOrphan: () => void = () => process.exit(137), everyMs = 500): void {
  const parent = process.ppid;
  if (parent <= 1) return;
  const timer = setInterval(() => {
    if (process.ppid !== parent) onOrphan();
  }, everyMs);
  timer.unref();
}
