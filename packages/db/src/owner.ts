/**
 * The process that owns a running sweep, and whether it is still there. A sweep killed by SIGKILL, a
 * crash or a power cut never writes its own end, so readers decide from the owner: same host and the
 * pid gone (or reused by a process that started later) means the sweep was interrupted.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

export interface SweepOwner {
  host: string;
  pid: number;
  /** when the owning process started (not when the sweep did): tells a reused pid from the owner */
  startedAt: Date;
}

/**
 * How much later than the owner's recorded start a process with its pid may have started and still
 * be the owner. Wide on purpose: both times are wall-clock readings of a boot-relative count, so a
 * clock step (NTP, a resumed VM) between them shifts one against the other; a pid reused by a
 * later process is almost always minutes or hours apart.
 */
const START_SLACK_MS = 60_000;

let mine: SweepOwner | undefined;

/** This process as an owner. */
export function currentOwner(): SweepOwner {
  mine ??= {
    host: hostname(),
    pid: process.pid,
    startedAt: new Date(Math.round(Date.now() - process.uptime() * 1000)),
  };
  return mine;
}

/**
 * false when the owner is certainly gone: it ran on this host and its pid is not alive, or the pid now
 * belongs to a process that started after the owner did. true when it is alive, and when this host
 * cannot tell (another host: the cluster's coordinator reports those through its own heartbeats).
 */
export function ownerAlive(owner: SweepOwner, here: string = hostname()): boolean {
  if (owner.host !== here) return true;
  if (!pidAlive(owner.pid)) return false;
  const started = processStart(owner.pid);
  return started === null || started.getTime() <= owner.startedAt.getTime() + START_SLACK_MS;
}

export function pidAlive(pid: number): boolean {
  if (!(Number.isInteger(pid) && pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Linux's clock ticks per second (sysconf(_SC_CLK_TCK)): 100 on every mainstream architecture. */
const CLK_TCK = 100;

/** When process `pid` started, from /proc (Linux); null where /proc cannot say. */
export function processStart(pid: number): Date | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 2 (comm) may hold spaces and parentheses: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]); // field 22 overall: starttime, in clock ticks since boot
    const btime = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
    if (!btime || !Number.isFinite(ticks)) return null;
    return new Date(Number(btime[1]) * 1000 + (ticks / CLK_TCK) * 1000);
  } catch {
    return null;
  }
}
