/**
 * One active coordinator per database: the active one holds a PostgreSQL advisory lock on a connection
 * of its own; any other coordinator is a standby that retries the lock every `retryMs`. A coordinator
 * that dies (SIGKILL, its host's network gone) loses its connection, PostgreSQL releases the lock with
 * it, and a standby takes it within one retry. Advisory locks are scoped to the database, so clusters
 * on other databases of the same server do not interfere.
 *
 * The holder re-checks every `checkMs` that its own session still holds the lock (postgres.js would
 * silently reconnect a dropped connection, without the lock); on losing it, it takes it again if it
 * is free, and otherwise reports the loss (the coordinator then exits: another one is active).
 */
import postgres from "postgres";

/** The lock's key: any constant all coordinators share ("unlearn" in ASCII, below 2^31). */
export const LEASE_KEY = 0x756e6c65;

export interface LeaseOptions {
  /** between tries while another coordinator holds the lock, or PostgreSQL is unreachable (ms) */
  retryMs?: number;
  /** between checks that the lock is still held (ms) */
  checkMs?: number;
  log?(line: string): void;
}

export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly sql: postgres.Sql,
    private conn: postgres.ReservedSql,
    private readonly options: LeaseOptions,
  ) {}

  /**
   * Waits until this process holds the lease: while another coordinator holds it (a standby), and while
   * PostgreSQL cannot be reached. `onWait` is told once per reason, so the caller can say why.
   */
  static async acquire(url: string, options: LeaseOptions = {}): Promise<Lease> {
    const log = options.log ?? (() => {});
    // One connection, never recycled: the lock lives exactly as long as it does.
    const sql = postgres(url, {
      max: 1,
      idle_timeout: 0,
      max_lifetime: 0,
      connect_timeout: 5,
      onnotice: () => {},
    });
    let said = "";
    for (;;) {
      let conn: postgres.ReservedSql | undefined;
      let why: string;
      try {
        conn = await sql.reserve();
        if (await tryLock(conn)) return new Lease(sql, conn, options);
        why = "another coordinator holds the lease: standing by";
      } catch (error) {
        why = `PostgreSQL unreachable for the lease, retrying: ${(error as Error).message}`;
      }
      conn?.release();
      if (why !== said) log(why);
      said = why;
      await new Promise((r) => setTimeout(r, options.retryMs ?? 1000));
    }
  }

  /** Calls `lost` (once) if the lock is gone and cannot be taken back. */
  watch(lost: (why: string) => void): void {
    const check = async () => {
      if (this.closed) return;
      try {
        if (!(await holds(this.conn)) && !(await tryLock(this.conn))) {
          return lost("another coordinator took the lease");
        }
      } catch (error) {
        // The connection is gone, and the lock with it: take it back on a new one if it is free.
        try {
          this.conn.release();
          this.conn = await this.sql.reserve();
          if (!(await tryLock(this.conn)))
            return lost(
              `the lease's connection broke (${(error as Error).message}) and another coordinator took it`,
            );
          this.options.log?.(`lease connection broke (${(error as Error).message}); lease taken again`);
        } catch (again) {
          return lost(
            `the lease's connection broke and PostgreSQL cannot be reached: ${(again as Error).message}`,
          );
        }
      }
      this.timer = setTimeout(check, this.options.checkMs ?? 2000);
    };
    this.timer = setTimeout(check, this.options.checkMs ?? 2000);
  }

  async release(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.conn`select pg_advisory_unlock(${LEASE_KEY})`.catch(() => {});
    this.conn.release();
    await this.sql.end({ timeout: 2 }).catch(() => {});
  }
}

async function tryLock(conn: postgres.ReservedSql): Promise<boolean> {
  const [row] = await conn`select pg_try_advisory_lock(${LEASE_KEY}) as locked`;
  return row?.locked === true;
}

/** Whether this session (not just some session) holds the lock. */
async function holds(conn: postgres.ReservedSql): Promise<boolean> {
  const [row] = await conn`
    select count(*)::int as n from pg_locks
    where locktype = 'advisory' and granted and pid = pg_backend_pid()
      and classid = 0 and objid = ${LEASE_KEY} and objsubid = 1`;
  return row?.n === 1;
}
