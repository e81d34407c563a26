/**
 * Who has a PGlite directory open. PGlite does not guard its data directory: a second process opening
 * the same files with its own in-memory state would corrupt them. So one process holds the directory,
 * and every other process connects to the share it publishes instead of opening the files.
 *
 * The hold itself is kept by the kernel: a Unix socket bound in Linux's abstract namespace under a
 * name derived from the directory's real path. Binding is atomic (one process wins, the others get
 * EADDRINUSE), and the kernel frees the name the moment the holder's process dies, however it dies.
 * No pid, start time or clock is ever compared, so a reused pid or a stepped clock cannot make a live
 * holder look dead, nor a dead one alive.
 *
 * `<dir>.lock` (beside the directory: PGlite refuses to initialise a directory with a foreign file in
 * it) only says where the holder shares the directory. It is written by the holder alone, mode 0600,
 * whole (a temporary file renamed over it), and trusted only when it belongs to this user and nobody
 * else can read or write it: a lock file planted by another user is refused, not followed.
 *
 * The abstract namespace belongs to a network namespace: processes on other hosts (a directory on a
 * network filesystem) or in other containers do not see the name. The lock file's host field catches
 * the first case; SECURITY.md says so for the second.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";

export interface LockHolder {
  pid: number;
  host: string;
  /** unique per hold: tells this hold from a later one by the same process */
  nonce: string;
  /** the Unix socket the holder shares the directory on (from the start; listening once url is set) */
  socket?: string;
  /** where the holder shares the directory; absent while it is still opening it */
  url?: string;
}

export type Claim =
  | { kind: "held"; lock: HeldLock }
  | { kind: "shared"; url: string; holder: LockHolder }
  | { kind: "busy"; holder: LockHolder | null; reason: string; remote: boolean };

export interface HeldLock {
  readonly path: string;
  /** Writes the share address into the lock file (atomically). */
  publish(url: string): void;
  /** Removes the lock file, then lets the kernel hold go. */
  release(): Promise<void>;
}

/** A lock file that must not be trusted: another user's, readable by others, or not a regular file. */
export class LockFileError extends Error {
  override name = "LockFileError";
}

/** The abstract socket name for `dataDir`: its real path (as far as it exists), hashed. */
export function lockName(dataDir: string): string {
  const digest = createHash("sha256").update(canonicalPath(dataDir)).digest("hex").slice(0, 40);
  return `\0unlearn-sweep/db/${digest}`;
}

/** The real path of `path`'s nearest existing ancestor, with the rest appended: same for every alias. */
function canonicalPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(canonicalPath(parent), basename(path));
  }
}

/** Binds the abstract name: the Server when this process got it, null when another process has it. */
function bindName(name: string): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    // Anyone may connect to an abstract socket; there is nothing to say to them.
    const server = createServer((socket) => socket.destroy());
    server.once("error", (error: NodeJS.ErrnoException) =>
      error.code === "EADDRINUSE" ? resolve(null) : reject(error),
    );
    server.listen({ path: name, exclusive: true }, () => {
      server.unref(); // holding the directory must not keep the process alive
      resolve(server);
    });
  });
}

/**
 * The lock file's content, or null when there is none (or it is not a lock we understand). Throws a
 * LockFileError when the file is not this user's own private regular file: its address is not trusted.
 * With `ownOnly` (the kernel hold is ours, the file is about to be replaced) only the owner is checked.
 */
export function readLock(path: string, ownOnly = false): LockHolder | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code === "ELOOP") throw new LockFileError(`the lock file ${path} is a symbolic link: refused`);
    throw error;
  }
  try {
    checkPrivate(path, fstatSync(fd), "lock file", ownOnly);
    return parseLock(readFileSync(fd, "utf8"));
  } finally {
    closeSync(fd);
  }
}

/** Throws unless `stat` is a regular file (or directory) of this user that no one else may use. */
export function checkPrivate(
  path: string,
  stat: { uid: number; mode: number; isFile(): boolean; isDirectory(): boolean },
  what: "lock file" | "share directory",
  ownOnly = false,
): void {
  const uid = process.getuid?.() ?? stat.uid;
  const kindOk = what === "lock file" ? stat.isFile() : stat.isDirectory();
  if (!kindOk)
    throw new LockFileError(
      `the ${what} ${path} is not a regular ${what === "lock file" ? "file" : "directory"}: refused`,
    );
  if (stat.uid !== uid) {
    throw new LockFileError(
      `the ${what} ${path} belongs to user ${stat.uid}, not to you (uid ${uid}): another user holds this database or planted the file; a PGlite directory is used by its owner only (remove the file if no one should hold it)`,
    );
  }
  if (!ownOnly && (stat.mode & 0o077) !== 0) {
    throw new LockFileError(
      `the ${what} ${path} has mode ${(stat.mode & 0o777).toString(8)}: other users may read or change it, so its address is not trusted (want 0600/0700; remove it if no process holds the database)`,
    );
  }
}

function parseLock(text: string): LockHolder | null {
  try {
    const p = JSON.parse(text) as Partial<LockHolder>;
    if (typeof p.pid !== "number" || typeof p.host !== "string") return null;
    return {
      pid: p.pid,
      host: p.host,
      nonce: typeof p.nonce === "string" ? p.nonce : "",
      socket: typeof p.socket === "string" ? p.socket : undefined,
      url: typeof p.url === "string" ? p.url : undefined,
    };
  } catch {
    return null;
  }
}

/** Writes `content` to `path` whole: a private temporary file renamed over it. */
function writeWhole(path: string, content: string): void {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temp, content, { flag: "wx", mode: 0o600 });
  try {
    renameSync(temp, path);
  } catch (error) {
    removeQuietly(temp);
    throw error;
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/**
 * One attempt at `dataDir`: "held" (ours now; the lock file names `socket`, where this process will
 * share it), "shared" (a live process on this host holds it and
 * shares it at url), or "busy" (a live process holds it but is still opening it, or the lock file
 * names another host: reason says which).
 */
export async function claimDataDir(dataDir: string, socket?: string): Promise<Claim> {
  const path = `${dataDir}.lock`;
  const server = await bindName(lockName(dataDir));
  if (server === null) {
    const holder = readLock(path);
    if (holder?.url) return { kind: "shared", url: holder.url, holder };
    const who = holder ? `process ${holder.pid}` : "another process";
    return { kind: "busy", holder, remote: false, reason: `${who} is opening it` };
  }
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  try {
    const previous = readLock(path, true);
    if (previous && previous.host !== hostname()) {
      await close();
      return {
        kind: "busy",
        holder: previous,
        remote: true,
        reason: `process ${previous.pid} on host ${previous.host} has it open; its share is not reachable from ${hostname()} (remove ${path} if that process is gone)`,
      };
    }
    const mine: LockHolder = {
      pid: process.pid,
      host: hostname(),
      nonce: randomBytes(8).toString("hex"),
      ...(socket ? { socket } : {}),
    };
    // A lock file left by a holder that died is ours to replace: the kernel says no one holds it.
    writeWhole(path, JSON.stringify(mine));
    return { kind: "held", lock: heldLock(path, mine, close) };
  } catch (error) {
    await close();
    throw error;
  }
}

function heldLock(path: string, mine: LockHolder, close: () => Promise<void>): HeldLock {
  let released = false;
  return {
    path,
    publish(url) {
      if (released) throw new Error(`the lock ${path} was released`);
      writeWhole(path, JSON.stringify({ ...mine, url }));
    },
    async release() {
      if (released) return;
      released = true;
      // The file first: once the name is free, the next holder's file must not be removed by us.
      removeQuietly(path);
      await close();
    },
  };
}
