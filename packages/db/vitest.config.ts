import { defineConfig } from "vitest/config";

// PGlite takes seconds to open a directory on a loaded 2-core machine, and the sharing tests start
// child processes that open one each: one budget for the package, sized for that.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
