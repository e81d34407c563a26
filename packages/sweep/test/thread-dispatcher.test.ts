/** The Dispatcher contract (dispatcher-conformance.ts) on the embedded mode's worker threads. */
import { openStore, type Store } from "@unlearn/db";
import { afterAll, beforeAll, vi } from "vitest";
import { ThreadDispatcher } from "../src/pool.ts";
import { dispatcherConformance } from "./dispatcher-conformance.ts";

// Worker threads start slowly on a loaded 2-core machine.
vi.setConfig({ testTimeout: 90_000 });

let store: Store;
const made: ThreadDispatcher[] = [];

// PGlite's start and migrations take seconds on a loaded machine.
beforeAll(async () => {
  store = await openStore("memory://");
}, 60_000);

afterAll(async () => {
  await Promise.all(made.map((d) => d.close()));
  await store?.close();
});

dispatcherConformance("worker threads (ThreadDispatcher)", () => ({
  store,
  dispatcher: () => {
    const dispatcher = new ThreadDispatcher({ workers: 1, threads: 1 });
    made.push(dispatcher);
    return dispatcher;
  },
}));
