/**
 * The dashboard's Next.js configuration. The app is served by ./server/main.ts (a custom server run with
 * tsx), which opens the database through @unlearn/db and hands the pages their services on globalThis:
 * the workspace packages (TypeScript sources, PGlite's WebAssembly, onnxruntime) are never bundled.
 */
import type { NextConfig } from "next";

const config: NextConfig = {
  // Type checking is the `typecheck` task's job (tsc --noEmit); `next build` would repeat it on every build.
  typescript: { ignoreBuildErrors: true },
  poweredByHeader: false,
  reactStrictMode: true,
  // The build must run offline: no telemetry, no fonts fetched (the layout uses system fonts).
  devIndicators: false,
};

export default config;
