/**
 * A client of a shared PGlite directory outlives its host. When the process that hosts the directory
 * closes it (a sweep ends while a dashboard reads; the dashboard stops while a sweep writes through
 * it), the client's connection drops. The Store then opens the directory again (taking it over as
 * host, or joining whichever process did) and retries the call once. Every Store write is idempotent
 * (inserts skip existing rows, updates set values), so a retried call that had already landed is
 * harmless; at worst an event is appended twice.
 */
import type { Store } from "./store.ts";

const LOST = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

/** Whether an error (or one of its causes) says the connection to the host went away. */
export function connectionLost(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === "string" && LOST.has(e.code)) return true;
  }
  return false;
}

type Method = Exclude<keyof Store, "kind" | "location" | "share" | "close">;

export function withFailover(first: Store, reopen: () => Promise<Store>): Store {
  let current = first;
  let reopening: Promise<Store> | null = null;
  let closed = false;

  /** One reopen for every call that saw the same connection drop. */
  async function replace(lost: Store): Promise<Store> {
    if (current !== lost) return current;
    reopening ??= (async () => {
      await lost.close().catch(() => {});
      current = await reopen();
      return current;
    })().finally(() => {
      reopening = null;
    });
    return reopening;
  }

  const call =
    <M extends Method>(name: M) =>
    async (...args: Parameters<Store[M]>): Promise<Awaited<ReturnType<Store[M]>>> => {
      const used = reopening ? await reopening : current;
      const invoke = (s: Store) => (s[name] as (...a: Parameters<Store[M]>) => ReturnType<Store[M]>)(...args);
      try {
        return await invoke(used);
      } catch (error) {
        if (closed || !connectionLost(error)) throw error;
        return await invoke(await replace(used));
      }
    };

  const methods = Object.fromEntries(
    (Object.keys(first) as (keyof Store)[])
      .filter((k) => typeof first[k] === "function" && k !== "close")
      .map((k) => [k, call(k as Method)]),
  ) as unknown as Pick<Store, Method>;

  return {
    ...methods,
    kind: first.kind,
    location: first.location,
    get share() {
      return current.share;
    },
    async close() {
      closed = true;
      if (reopening) await reopening.catch(() => {});
      await current.close();
    },
  };
}
