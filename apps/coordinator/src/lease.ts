/**
 * One active coordinator per database: the active one holds a PostgreSQL advisory lock on a connection
 * of its own; any other coordinator is a standby that retries the lock every `retryMs`. A coordinator
 * that dies (SIGKILL, its host's network gone) loses its connection, PostgreSQL releases the lock with
 * it, and a standby takes it within one retry. Advisory locks are scoped to the database, so clusters
 * on other databases of the same server do not interfere.
 *
 * The holder re-checks every `checkMs` that its own session still holds the lock (postgres.js
 * silently reconnects a dropped connection, without the lock); on losing it, it takes it again if it
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
    /** a pool of one connection: the session that holds the lock (reconnected, without it, if dropped) */
    private readonly sql: postgres.Sql,
    private readonly options: LeaseOptions,
  ) {}

  /**
   * Waits until this process holds the lease: while another coordinator holds it (a standby), and while
   * PostgreSQL cannot be reached, saying so once per reason.
   */
  static async acquire(url: string, options: LeaseOptions = {}): Promise<Lease> {
    const log = options.log ?? (() => {});
    // One connection, never recycled by the pool: the lock lives exactly as long as it does.
    const sql = postgres(url, {
      max: 1,
      idle_timeout: 0,
      max_lifetime: 0,
      connect_timeout: 5,
      onnotice: () => {},
      // A holder whose host vanished without closing the connection (power, network) is found dead by
      // the server's keepalives within about 20 s, instead of the system default of two hours.
      connection: { tcp_keepalives_idle: 5, tcp_keepalives_interval: 5, tcp_keepalives_count: 3 },
    });
    let said = "";
    for (;;) {
      let why: string;
      try {
        if (await tryLock(sql)) return new Lease(sql, options);
        why = "another coordinator holds the lease: standing by";
      } catch (error) {
        why = `PostgreSQL unreachable for the lease, retrying: ${(error as Error).message}`;
      }
      if (why !== said) log(why);
      said = why;
      await new Promise((r) => setTimeout(r, options.retryMs ?? 1000));
    }
  }

  /**
   * Checks every checkMs that this session still holds the lock; when it does not (the connection was
   * dropped and postgres.js reconnected without it), takes it again if it is free, and otherwise calls
   * `lost` once. While PostgreSQL cannot be reached it keeps checking: nobody can take the lock then.
   */
  watch(lost: (why: string) => void): void {
    const check = async () => {
      if (this.closed) return;
      try {
        if (!(await holds(this.sql))) {
          if (!(await tryLock(this.sql))) return lost("another coordinator took the lease");
          this.options.log?.("the lease's connection was dropped; lease taken again");
        }
      } catch (error) {
        this.options.log?.(`lease not checked (PostgreSQL unreachable): ${(error as Error).message}`);
      }
      this.timer = setTimeout(check, this.options.checkMs ?? 2000);
    };
    this.timer = setTimeout(check, this.options.checkMs ?? 2000);
  }

  async release(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.sql`select pg_advisory_unlock(${LEASE_KEY})`.catch(() => {});
    await this.sql.end({ timeout: 2 }).catch(() => {});
  }
}

async function tryLock(sql: postgres.Sql): Promise<boolean> {
  const [row] = await sql`select pg_try_advisory_lock(${LEASE_KEY}) as locked`;
  return row?.locked === true;
}

/** Whether this session (not just some session) holds the lock. */
async function holds(sql: postgres.Sql): Promise<boolean> {
  const [row] = await sql`
    select count(*)::int as n from pg_locks
    where locktype = 'advisory' and granted and pid = pg_backend_pid()
      and classid = 0 and objid = ${LEASE_KEY} and objsubid = 1`;
  return row?.n === 1;
}
