import { defineConfig } from "vitest/config";

// Many of these tests start the CLI (a Node process that loads tsx, PGlite and a sweep's worker
// threads) or open a PGlite directory: ~3 s on an idle 2-core machine, 8 s and more under load
// (vitest's default 5 s timed out). One budget for the package, sized for a loaded machine; the
// longest tests (whole sweeps) set their own.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
