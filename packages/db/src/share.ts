/**
 * Sharing an open PGlite directory with other processes: a PostgreSQL wire-protocol server on a loopback
 * port, built from @electric-sql/pglite-socket's PGLiteSocketHandler (framing, SSL refusal, cancel
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
import { createServer, type Server, type Socket } from "node:net";
import type { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketHandler } from "@electric-sql/pglite-socket";

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

  constructor(private readonly db: PGlite) {}

  // The four methods PGLiteSocketHandler calls.
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
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
    }
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

export interface SharedServer {
  /** postgres://…@127.0.0.1:PORT/postgres: what other processes connect to */
  url: string;
  /** Closes every connection, waits for the session to be idle, stops listening. */
  stop(): Promise<void>;
}

/** Serves `db` on 127.0.0.1 at a free port. */
export async function shareOnLoopback(db: PGlite): Promise<SharedServer> {
  const queue = new SessionQueue(db);
  const handlers = new Set<PGLiteSocketHandler>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const handler = new PGLiteSocketHandler({
      // SessionQueue has QueryQueueManager's public methods; that class is not exported.
      queryQueue: queue as unknown as ConstructorParameters<typeof PGLiteSocketHandler>[0]["queryQueue"],
      closeOnDetach: true,
    });
    handlers.add(handler);
    const forget = () => handlers.delete(handler);
    handler.addEventListener("close", forget);
    handler.addEventListener("error", forget);
    handler.attach(socket).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address !== "object") throw new Error("the share server has no port");
  return {
    url: `postgres://postgres@127.0.0.1:${address.port}/postgres`,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Let statements and transactions in flight finish (a little while), then drop the clients:
      // they reopen the directory themselves (see failover.ts).
      const until = Date.now() + STOP_GRACE_MS;
      while (!queue.idle() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      await Promise.all([...handlers].map((h) => h.detach(true).catch(() => {})));
      for (const socket of sockets) socket.destroy();
      await closed;
      await queue.drained();
    },
  };
}
