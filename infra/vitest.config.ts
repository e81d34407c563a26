import { defineConfig } from "vitest/config";

// Static checks of the deployment files (and one real coordinator for the health probe): seconds each.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
