import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["server/**/*.test.ts", "lib/**/*.test.ts", "e2e/**/*.test.ts"],
    // One `next build` for the whole run (cached by source hash), before any test file starts.
    globalSetup: ["e2e/global-setup.ts"],
    // The e2e file drives a real sweep, a real server and a real browser: one file at a time.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 240_000,
  },
});
