/**
 * Runs the coordinator's own start (apps/coordinator/src/main.ts) against environments given as JSON
 * on stdin, one after another, and reports for each which variables it read and whether it refused
 * the environment (exit code 2, with its message). main.ts starts itself when imported, so each run
 * imports it afresh (a query string makes a new module) in this separate process; a run that
 * passes the environment check goes on to connect, which is where the probe stops looking.
 *   node --import tsx infra/test/coordinator-env-probe.ts < envs.json   → JSON lines
 */
import { readFileSync } from "node:fs";

const MAIN = new URL("../../apps/coordinator/src/main.ts", import.meta.url).href;
const envs = JSON.parse(readFileSync(0, "utf8")) as Record<string, string>[];
const realExit = process.exit.bind(process);
const results: { read: string[]; refused: boolean; message: string }[] = [];

for (const [i, env] of envs.entries()) {
  const read = new Set<string>();
  const messages: string[] = [];
  let refused = false;
  process.env = new Proxy({ ...env } as NodeJS.ProcessEnv, {
    get(target, key) {
      if (typeof key === "string") read.add(key);
      return Reflect.get(target, key);
    },
  });
  console.error = (...args: unknown[]) => void messages.push(args.map(String).join(" "));
  process.exit = ((code?: number) => {
    refused = code === 2;
  }) as typeof process.exit;
  process.argv = [process.argv[0]!, "main.ts"];
  await import(`${MAIN}?run=${i}`);
  // the environment check is synchronous at start; its refusal reaches process.exit a few ticks later
  await new Promise((r) => setTimeout(r, 200));
  results.push({
    read: [...read].filter((k) => /^[A-Z][A-Z0-9_]*$/.test(k)).sort(),
    refused,
    message: messages.join("\n"),
  });
}
process.stdout.write(`${JSON.stringify(results)}\n`);
realExit(0);
