/**
 * The Store the scheduler writes through, telling the NATS link when a job's result is in the database:
 * only then is the result message acked (a crash before that brings the message back after a restart).
 */
import type { Store } from "@unlearn/db";

export function storeTellingStored(store: Store, stored: (jobId: string) => void): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === "saveResult")
        return async (result: Parameters<Store["saveResult"]>[0]) => {
          const out = await target.saveResult(result);
          stored(result.jobId);
          return out;
        };
      const value = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
