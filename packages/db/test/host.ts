/**
 * Child process of the tests: opens the PGlite directory argv[2] (so it hosts it and shares it on its
 * loopback port), prints "ready", and keeps it open until its stdin closes or it gets SIGTERM.
 */
import { openStore } from "../src/index.ts";

const store = await openStore(process.argv[2]);
process.stdout.write(`ready ${store.share?.role} ${store.share?.url}\n`);
const close = async () => {
  await store.close();
  process.exit(0);
};
process.stdin.on("end", close);
process.stdin.resume();
process.on("SIGTERM", close);
