/** Builds the app once for the test run (skipped when .next already holds a build of these sources). */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBuild } from "../server/build.ts";

export default async function setup(): Promise<void> {
  const appDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  let output = "";
  try {
    const { built, ms } = await ensureBuild(appDir, (t) => {
      output += t;
    });
    if (built) process.stderr.write(`dashboard e2e: next build took ${(ms / 1000).toFixed(1)} s\n`);
  } catch (error) {
    process.stderr.write(output);
    throw error;
  }
}
