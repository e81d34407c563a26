/**
 * Renders every paper figure from the hand-written fixtures (test/fixtures.ts) to SVG and PNG, so that a
 * change to the drawing can be looked at without running a sweep:
 *   pnpm --filter @unlearn/figures render:fixtures [outDir]    (default: <tmpdir>/unlearn-figures)
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIGURE_IDS } from "../src/definitions.ts";
import { renderFigure } from "../src/render.ts";
import { fixtureRows } from "../test/fixtures.ts";

const outDir = process.argv[2] ?? join(tmpdir(), "unlearn-figures");
for (const figure of FIGURE_IDS) {
  const files = await renderFigure(fixtureRows[figure], figure, { outDir });
  console.log(`${figure}: ${files.svg} ${files.png}`);
}
