import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { MIGRATIONS_FOLDER } from "./index.ts";

const pkg = fileURLToPath(new URL("..", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "unlearn-db-migrations-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("migrations", () => {
  it("drizzle/ is up to date with src/schema.ts (else run `pnpm --filter @unlearn/db generate`)", () => {
    const copy = join(tmp, "drizzle");
    cpSync(MIGRATIONS_FOLDER, copy, { recursive: true });
    // drizzle-kit only takes an --out relative to the working directory.
    const args = [
      "generate",
      "--dialect=postgresql",
      "--schema=./src/schema.ts",
      `--out=${relative(pkg, copy)}`,
    ];
    execFileSync(join(pkg, "node_modules/.bin/drizzle-kit"), args, { cwd: pkg, stdio: "pipe" });
    expect(readdirSync(copy).sort()).toEqual(readdirSync(MIGRATIONS_FOLDER).sort());
  }, 30_000);
});
