/**
 * Child process of the lock tests: claims PGlite directories on command. stdin lines: "claim DIR"
 * (prints "held DIR", "shared DIR" or "busy DIR"), "publish URL", "release" (prints "released").
 */
import { createInterface } from "node:readline";
import { claimDataDir, type HeldLock } from "../src/lock.ts";

let held: HeldLock | null = null;
for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg = ""] = line.split(" ");
  if (command === "claim") {
    const claim = await claimDataDir(arg);
    if (claim.kind === "held") held = claim.lock;
    process.stdout.write(`${claim.kind} ${arg}\n`);
  } else if (command === "publish") {
    held?.publish(arg);
    process.stdout.write("published\n");
  } else if (command === "release") {
    await held?.release();
    held = null;
    process.stdout.write("released\n");
  }
}
