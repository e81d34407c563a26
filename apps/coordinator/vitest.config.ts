import { defineConfig } from "vitest/config";

// Each file starts its own nats-server, PostgreSQL database and processes: one file at a time on a
// 2-core machine, with timeouts that allow for process start-up under load.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    testTimeout: 150_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
