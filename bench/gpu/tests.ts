/**
 * Entry of the engine tests for bench/gpu/run.sh: packages/core's conformance suite and the webgpu
 * engine's own tests, bundled by bench/gpu/pack.mjs with "vitest" aliased to ./mini-test.ts, so they
 * run on a machine with Node alone. (Under the workspace, run them with vitest as usual.)
 */
import "../../packages/core/src/engine/conformance.test.ts";
import "../../packages/core/src/engine/webgpu.test.ts";
import { runAll } from "./mini-test.ts";

const counts = await runAll((line) => console.log(line));
console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
process.exit(counts.failed > 0 || counts.passed === 0 ? 1 : 0);
