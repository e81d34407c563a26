/**
 * `pnpm worker` / `pnpm coordinator` run node under pnpm, through `sh -c`; a SIGKILL sent to pnpm's pid
 * (what a script's `kill -9 $!` does) would leave node running as an orphan, still taking jobs. Each
 * process exits when its launcher dies, as if killed with it: its parent, and, when the parent is a
 * shell, the shell's parent too.
 */
import { readFileSync } from "node:fs";

/** [command name, parent pid] of a process from /proc (Linux); null where /proc cannot say. */
function stat(pid: number): [string, number] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm is in parentheses and may hold spaces: the fields after the last ')' are fixed.
    const open = text.indexOf("(");
    const close = text.lastIndexOf(")");
    const rest = text.slice(close + 2).split(" ");
    return [text.slice(open + 1, close), Number(rest[1])];
  } catch {
    return null;
  }
}

const SHELLS = new Set(["sh", "dash", "bash", "zsh"]);

/** The end of an orphan: SIGKILL to itself, exactly what its launcher's kill -9 would have done. */
const die = () => process.kill(process.pid, "SIGKILL");

export function exitWithParent(onOrphan: () => void = die, everyMs = 500): void {
  const parent = process.ppid;
  if (parent <= 1) return;
  const parentStat = stat(parent);
  const watchGrandparent = parentStat !== null && SHELLS.has(parentStat[0]) && parentStat[1] > 1;
  const timer = setInterval(() => {
    if (process.ppid !== parent) return onOrphan();
    if (watchGrandparent && stat(parent)?.[1] !== parentStat[1]) onOrphan();
  }, everyMs);
  timer.unref();
}
