/**
 * Sharing an open PGlite directory with other processes of the same user: a PostgreSQL wire-protocol
 * server on a Unix-domain socket in a directory only its owner may enter (0700), built from @electric-sql/pglite-socket's PGLiteSocketHandler (framing, SSL refusal, cancel
 * requests), with our own scheduler in place of the package's QueryQueueManager.
 *
 * Why our own: PGlite is one backend session, so the connections of every client are multiplexed onto
 * it message by message. The package's queue keeps a connection's messages together only inside an
 * explicit transaction, but an extended-protocol batch (Parse, Bind, Describe, Execute … Sync, which is
 * what postgres.js and Drizzle send for every query) is not in one: two clients' batches interleave and
 * one binds against the other's unnamed statement (electric-sql/pglite#1046, open for 0.2.17). Its queue
 * also stops for good after one internal error. SessionQueue gives one connection the session from its
 * first message until a Sync or a simple Query leaves it idle (no open transaction), and keeps going
 * after errors.
 */
import { randomBytes } from "node:crypto";
import { lstatSync, mkdirSync, rmdirSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketHandler } from "@electric-sql/pglite-socket";
import { checkPrivate } from "./lock.ts";

interface Queued {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (error: Error) => void;
}

const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]);
const ROLLBACK = simpleQuery("ROLLBACK");

function simpleQuery(text: string): Uint8Array {
  const body = new TextEncoder().encode(`${text}\0`);
  const out = new Uint8Array(5 + body.length);
  out[0] = 0x51; // 'Q'
  new DataView(out.buffer).setInt32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

/**
 * After this message, may the session go to another connection (if no transaction is open)? Yes after
 * a Sync ('S'), a simple Query ('Q'), a Terminate ('X') and the startup packet (no type byte: its
 * first byte is the high byte of a small length, 0). No inside an extended batch.
 */
function endsBatch(message: Uint8Array): boolean {
  const type = message[0];
  return type === 0x53 || type === 0x51 || type === 0x58 || type === 0;
}

/** Runs the messages of every connection on the one PGlite session, a batch at a time. */
export class SessionQueue {
  private queue: Queued[] = [];
  private pumping = false;
  /** the connection whose batch or transaction is open; only its messages run until it ends */
  private holder: number | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * idleLimit: how long the holder may keep the session (open batch or transaction) without sending
   * anything before onIdle(holder) drops it; PostgreSQL's idle_in_transaction_session_timeout, for
   * the one session every client shares (a client stopped with Ctrl-Z would hold it forever).
   */
  constructor(
    private readonly db: PGlite,
    private readonly idleLimit: { ms: number; onIdle: (handlerId: number) => void } = {
      ms: 0,
      onIdle: () => {},
    },
  ) {}

  // The four methods PGLiteSocketHandler calls.
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    if (handlerId === this.holder) clearTimeout(this.idleTimer);
    return new Promise((resolve, reject) => {
      this.queue.push({ handlerId, message, onData, resolve, reject });
      void this.pump();
    });
  }

  getQueueLength(): number {
    return this.queue.length;
  }

  clearQueueForHandler(handlerId: number): void {
    const gone = this.queue.filter((q) => q.handlerId === handlerId);
    this.queue = this.queue.filter((q) => q.handlerId !== handlerId);
    for (const q of gone) q.reject(new Error("connection closed"));
  }

  /** A connection went away: end its open batch (Sync) and roll back its open transaction. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.holder !== handlerId) return;
    // Runs through the queue so that it cannot overlap a message of the same connection in flight.
    await new Promise<number>((resolve, reject) => {
      this.queue.unshift({ handlerId, message: new Uint8Array(0), onData: () => {}, resolve, reject });
      void this.pump();
    });
  }

  /** Nothing runs, waits, or holds the session (no open batch or transaction). */
  idle(): boolean {
    return !this.pumping && this.queue.length === 0 && this.holder === null;
  }

  /** Resolves once nothing runs or waits (before the database is closed). */
  async drained(): Promise<void> {
    while (this.pumping || this.queue.length > 0) await new Promise((r) => setTimeout(r, 10));
  }

  private next(): Queued | undefined {
    if (this.holder === null) return this.queue.shift();
    const i = this.queue.findIndex((q) => q.handlerId === this.holder);
    return i < 0 ? undefined : this.queue.splice(i, 1)[0];
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let item = this.next(); item; item = this.next()) {
        if (item.message.length === 0) {
          await this.release();
          item.resolve(0);
          continue;
        }
        let bytes = 0;
        try {
          await this.run(item.message, (data) => {
            bytes += data.length;
            item.onData(data);
          });
          item.resolve(bytes);
        } catch (error) {
          item.reject(error instanceof Error ? error : new Error(String(error)));
        }
        this.holder = endsBatch(item.message) && !this.db.isInTransaction() ? null : item.handlerId;
      }
    } finally {
      this.pumping = false;
      this.armIdleTimer();
    }
  }

  /** The session waits on its holder's next message: drop the holder if it does not come in time. */
  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    const holder = this.holder;
    if (holder === null || this.idleLimit.ms <= 0) return;
    this.idleTimer = setTimeout(() => {
      if (this.holder === holder && !this.pumping) this.idleLimit.onIdle(holder);
    }, this.idleLimit.ms);
    this.idleTimer.unref();
  }

  private async release(): Promise<void> {
    const discard = () => {};
    try {
      await this.run(SYNC, discard);
      if (this.db.isInTransaction()) {
        await this.run(ROLLBACK, discard);
      }
    } finally {
      this.holder = null;
    }
  }

  private run(message: Uint8Array, onRawData: (data: Uint8Array) => void): Promise<void> {
    return this.db.runExclusive(() => this.db.execProtocolRawStream(message, { onRawData }));
  }
}

/** How long stop() waits for the session to go idle before it closes the connections. */
const STOP_GRACE_MS = 2000;
/** Default limits of the share; options.idleMs / options.maxMessageBytes override them (tests). */
const IDLE_HOLDER_MS = 30_000;
/** Far above the largest message the Store sends (a job's result row), far below a memory problem. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** psql's and postgres.js's socket file name for port 5432: `host=DIR` finds it without a port. */
const SOCKET_FILE = ".s.PGSQL.5432";
/** sun_path holds 108 bytes with its terminating NUL. */
const MAX_SOCKET_PATH = 107;

export interface SharedServer {
  /** postgres://postgres@/postgres?host=DIR: what other processes of this user connect to */
  url: string;
  /** Closes every connection, waits for the session to be idle, stops listening. */
  stop(): Promise<void>;
}

export interface ShareOptions {
  /** how long a client may hold the session silent (default 30 s) */
  idleMs?: number;
  /** the largest protocol message a client may send (default 64 MiB) */
  maxMessageBytes?: number;
}

/**
 * Serves `db` on a Unix-domain socket in `dir` (see planShareDir; made 0700). The directory's mode is
 * what keeps other local users out: PGlite itself accepts any user name without a password.
 */
export async function shareOnSocket(
  db: PGlite,
  dir: string,
  options: ShareOptions = {},
): Promise<SharedServer> {
  privateDir(dir);
  const path = socketPath(dir);
  // A socket file left by a holder that died: the caller holds the directory's lock, so it is stale.
  rmSync(path, { force: true });
  const handlers = new Map<number, { handler: PGLiteSocketHandler; socket: Socket }>();
  const queue = new SessionQueue(db, {
    ms: options.idleMs ?? IDLE_HOLDER_MS,
    onIdle: (id) => handlers.get(id)?.socket.destroy(),
  });
  const limit = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  const server: Server = createServer((socket) => serve(socket, queue, handlers, limit));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    url: `postgres://postgres@/postgres?host=${encodeURIComponent(dir)}`,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Let statements and transactions in flight finish (a little while), then drop the clients:
      // they reopen the directory themselves (see failover.ts).
      const until = Date.now() + STOP_GRACE_MS;
      while (!queue.idle() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      const open = [...handlers.values()];
      await Promise.all(open.map(({ handler }) => handler.detach(true).catch(() => {})));
      for (const { socket } of open) socket.destroy();
      await closed;
      await queue.drained();
      removeDirQuietly(dir);
    },
  };
}

function serve(
  socket: Socket,
  queue: SessionQueue,
  handlers: Map<number, { handler: PGLiteSocketHandler; socket: Socket }>,
  limit: number,
): void {
  // Registered before the handler's own listener: an oversized message is refused from its header,
  // before PGLiteSocketHandler buffers it whole.
  const guard = new FrameGuard(limit);
  socket.on("data", (chunk: Buffer) => {
    if (!guard.accept(chunk)) socket.destroy();
  });
  const handler = new PGLiteSocketHandler({
    // SessionQueue has QueryQueueManager's public methods; that class is not exported.
    queryQueue: queue as unknown as ConstructorParameters<typeof PGLiteSocketHandler>[0]["queryQueue"],
    closeOnDetach: true,
  });
  handlers.set(handler.handlerId, { handler, socket });
  const forget = () => handlers.delete(handler.handlerId);
  handler.addEventListener("close", forget);
  handler.addEventListener("error", forget);
  handler.attach(socket).catch(() => socket.destroy());
}

/**
 * Follows the framing of one client's byte stream, a header at a time, and says when a message
 * declares a length beyond the limit (or below its own header). Before the startup packet, messages
 * carry no type byte (SSLRequest, CancelRequest, StartupMessage); after it, every one does.
 */
export class FrameGuard {
  private header: number[] = [];
  private skip = 0;
  private started = false;

  constructor(private readonly limit: number) {}

  accept(chunk: Uint8Array): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      this.header.push(chunk[i++]!);
      const size = this.started ? 5 : 8;
      if (this.header.length < size) continue;
      const view = Buffer.from(this.header);
      const length = this.started ? view.readInt32BE(1) + 1 : view.readInt32BE(0);
      if (!this.started && view.readInt32BE(4) === 196608) this.started = true;
      this.header = [];
      if (length < size || length > this.limit) return false;
      this.skip = length - size;
    }
    return true;
  }
}

/**
 * Where the share of `dataDir` listens: `<dir>.share/.s.PGSQL.5432`, or, when that path would not fit
 * sun_path, a directory with a random name under the temporary directory. Named before the directory
 * is opened, so that the lock can say from its first byte where the share will be.
 */
export function planShareDir(dataDir: string): string {
  const beside = `${dataDir}.share`;
  if (Buffer.byteLength(join(beside, SOCKET_FILE)) <= MAX_SOCKET_PATH) return beside;
  return join(tmpdir(), `unlearn-share-${randomBytes(8).toString("hex")}`);
}

/** The socket file inside a share directory. */
export function socketPath(shareDir: string): string {
  return join(shareDir, SOCKET_FILE);
}

/** Makes `dir` 0700, or checks that an existing one is this user's and private (a dead holder's). */
function privateDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  checkPrivate(dir, lstatSync(dir), "share directory");
}

function removeDirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty (someone else's file) or already gone: leave it.
  }
}

/**
 * postgres.js options for a share URL. postgres.js takes the socket directory as its `host` option but
 * reads no `host` query parameter, so the URL is taken apart here; the directory is checked first
 * (this user's, 0700), so that a planted socket cannot receive this process's writes.
 */
export function shareClientOptions(url: string): { path: string; user: string; database: string } {
  // WHATWG URL refuses user@ without a host, so the parts are taken by hand.
  const parts = /^postgres(?:ql)?:\/\/(?:([^@/?]*)@)?\/([^?]*)\?(.*)$/.exec(url);
  const dir = parts ? new URLSearchParams(parts[3]).get("host") : null;
  if (!parts || !dir?.startsWith("/")) {
    throw new Error(`the share address ${url} is not a Unix-socket address (postgres://user@/db?host=/dir)`);
  }
  checkPrivate(dir, lstatSync(dir), "share directory");
  return {
    path: socketPath(dir),
    user: decodeURIComponent(parts[1] ?? "") || "postgres",
    database: decodeURIComponent(parts[2] ?? "") || "postgres",
  };
}
