/**
 * Who has a PGlite directory open. PGlite does not guard its data directory: a second process opening
 * the same files with its own in-memory state would corrupt them. So the process that opens it holds
 * `<dir>.lock` (beside the directory: PGlite refuses to initialise a directory with a foreign file in
 * it) and, once it shares the directory on a loopback port, writes that address into the lock. Every
 * other process connects there instead of opening the files.
 *
 * The lock is written whole or not at all: its content goes to a temporary file first, which is then
 * hard-linked to the lock's name (fails if the lock exists) or renamed over it (the holder's update).
 * A reader never sees an empty or half-written lock, so it never mistakes a fresh one for a stale one.
 */
import { randomBytes } from "node:crypto";
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { currentOwner, ownerAlive } from "./owner.ts";

export interface LockHolder {
  pid: number;
  host: string;
  /** when the holding process started (tells a reused pid from the holder) */
  started: string;
  /** unique per lock: tells this lock from a later one by the same process */
  nonce: string;
  /** where the holder shares the directory; absent while it is still opening it */
  url?: string;
}

export type Claim =
  | { kind: "held"; lock: HeldLock }
  | { kind: "shared"; url: string; holder: LockHolder }
  | { kind: "busy"; holder: LockHolder; reason: string; remote: boolean };

export interface HeldLock {
  readonly path: string;
  /** Writes the share address into the lock (atomically). */
  publish(url: string): void;
  release(): void;
}

/** The lock file's content as written, or null when it is missing or not a lock we understand. */
export function readLock(path: string): { holder: LockHolder; text: string } | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return null;
  }
  try {
    const p = JSON.parse(text) as Partial<LockHolder>;
    if (typeof p.pid !== "number" || typeof p.host !== "string") return null;
    return {
      text,
      holder: {
        pid: p.pid,
        host: p.host,
        // A lock written before these fields existed: no start time (the pid alone decides), no nonce.
        started: typeof p.started === "string" ? p.started : "",
        nonce: typeof p.nonce === "string" ? p.nonce : "",
        url: typeof p.url === "string" ? p.url : undefined,
      },
    };
  } catch {
    return null;
  }
}

function writeTemp(path: string, content: string): string {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temp, content, { flag: "wx" });
  return temp;
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/**
 * One attempt at the lock of `dataDir`: "held" (ours now), "shared" (a live process holds it and
 * shares it at url), or "busy" (a live process holds it but is still opening it, or a process on
 * another host holds it: reason says which). A lock whose process is gone is taken over.
 */
export function claimDataDir(dataDir: string): Claim {
  const path = `${dataDir}.lock`;
  const owner = currentOwner();
  const mine: LockHolder = {
    pid: owner.pid,
    host: owner.host,
    started: owner.startedAt.toISOString(),
    nonce: randomBytes(8).toString("hex"),
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    const temp = writeTemp(path, JSON.stringify(mine));
    try {
      linkSync(temp, path);
      return { kind: "held", lock: heldLock(path, mine) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    } finally {
      removeQuietly(temp);
    }
    const found = readLock(path);
    if (found === null) {
      // Gone between link and read (its holder released it), or not a lock at all: try again, then
      // take over what cannot be a live holder's lock (every live holder's lock parses).
      if (attempt > 0) takeOver(path, readText(path));
      continue;
    }
    const { holder, text } = found;
    const startedAt = holder.started ? new Date(holder.started) : new Date(8.64e15);
    const alive = ownerAlive({ host: holder.host, pid: holder.pid, startedAt });
    if (holder.host !== owner.host) {
      return {
        kind: "busy",
        holder,
        remote: true,
        reason: `process ${holder.pid} on host ${holder.host} has it open; its share port is not reachable from ${owner.host}`,
      };
    }
    if (!alive) {
      takeOver(path, text);
      continue;
    }
    if (holder.url) return { kind: "shared", url: holder.url, holder };
    return { kind: "busy", holder, remote: false, reason: `process ${holder.pid} is opening it` };
  }
  throw new Error(`could not take the lock ${path}: other processes keep taking it over`);
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/**
 * Removes a stale lock whose content is `text`. It is first renamed aside, so that a fresh lock that
 * replaced the stale one meanwhile is recognised (its content differs) and put back, not deleted.
 */
function takeOver(path: string, text: string | null): void {
  if (text === null) return;
  const aside = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.stale`;
  try {
    renameSync(path, aside);
  } catch {
    return; // Someone else moved it first.
  }
  if (readText(aside) !== text) {
    try {
      linkSync(aside, path);
    } catch {
      // A newer lock is in place already; the moved one was taken over in between.
    }
  }
  removeQuietly(aside);
}

function heldLock(path: string, mine: LockHolder): HeldLock {
  const isMine = () => readLock(path)?.holder.nonce === mine.nonce;
  return {
    path,
    publish(url) {
      const temp = writeTemp(path, JSON.stringify({ ...mine, url }));
      try {
        if (!isMine()) throw new Error(`the lock ${path} was taken over by another process`);
        renameSync(temp, path);
      } finally {
        removeQuietly(temp);
      }
    },
    release() {
      if (isMine()) removeQuietly(path);
    },
  };
}
