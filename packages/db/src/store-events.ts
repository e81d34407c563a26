/** The Store's event log: appending a sweep's events and reading them back by sweep (and type). */
import { and, asc, desc, eq, gt, inArray } from "drizzle-orm";
import { events } from "./schema.ts";
import { jsonValue, requireLimit, requireText, sqlState } from "./store-check.ts";
import type { Store, StoreContext } from "./store-types.ts";

type EventOps = Pick<Store, "appendEvent" | "listEvents" | "countEvents" | "findEvent">;

export function eventOps({ db, live }: StoreContext): EventOps {
  return {
    async appendEvent(e) {
      live();
      try {
        await db.insert(events).values({
          sweepId: requireText(e.sweepId, "event sweepId"),
          jobId: e.jobId ?? null,
          type: requireText(e.type, "event type"),
          payload: e.payload === undefined ? null : jsonValue(e.payload, `event ${e.type}: payload`),
        });
      } catch (error) {
        if (sqlState(error) === "23503")
          throw new Error(`appendEvent: unknown sweep "${e.sweepId}"`, { cause: error });
        throw error;
      }
    },

    async listEvents(sweepId, options) {
      live();
      const limit = requireLimit(options?.limit ?? 1000, "listEvents");
      return db
        .select()
        .from(events)
        .where(and(eq(events.sweepId, sweepId), gt(events.id, options?.afterId ?? 0)))
        .orderBy(asc(events.id))
        .limit(limit);
    },

    async countEvents(sweepId, type) {
      live();
      return db.$count(
        events,
        and(eq(events.sweepId, sweepId), eq(events.type, requireText(type, "countEvents: type"))),
      );
    },

    async findEvent(sweepId, types, which) {
      live();
      if (types.length === 0) throw new Error("findEvent: types is empty");
      const rows = await db
        .select()
        .from(events)
        .where(and(eq(events.sweepId, sweepId), inArray(events.type, [...types])))
        .orderBy(which === "first" ? asc(events.id) : desc(events.id))
        .limit(1);
      return rows[0] ?? null;
    },
  };
}
