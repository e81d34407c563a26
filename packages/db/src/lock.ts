import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";

/**
 * PGlite does not guard its data directory: a second process (say `pnpm results` while an embedded sweep
 * runs) would open the same files with its own in-memory state and corrupt them. So one Store holds
 * `<dir>.lock` (beside the directory: PGlite refuses to initialise a directory with a foreign file in it)
 * while it is open. A lock left by a process that died (kill -9) is taken over.
 */
export function lockDataDir(dataDir: string): () => void {
  const path = `${dataDir}.lock`;
  const me = { pid: process.pid, host: hostname() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx");
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      return () => {
        try {
          if (readHolder(path)?.pid === me.pid) unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = readHolder(path);
      if (holder && holder.host === me.host && isAlive(holder.pid)) {
        throw new Error(
          `the PGlite directory ${dataDir} is in use by process ${holder.pid}` +
            `${holder.pid === me.pid ? " (this one)" : ""}; PGlite serves one process at a time: stop that one, ` +
            `use a postgres:// URL to share a database, or delete ${path} if that process is not ours`,
        );
      }
      // Stale (its process is gone) or unreadable (a writer died mid-write): remove it and try again.
      try {
        unlinkSync(path);
      } catch {
        // Another opener removed it first; the next attempt decides.
      }
    }
  }
  throw new Error(`could not take the lock ${path} on the PGlite directory ${dataDir}`);
}

function readHolder(path: string): { pid: number; host: string } | null {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as { pid?: unknown; host?: unknown };
    return typeof parsed.pid === "number" && typeof parsed.host === "string"
      ? { pid: parsed.pid, host: parsed.host }
      : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
