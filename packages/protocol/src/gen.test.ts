import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const pkg = fileURLToPath(new URL("..", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "unlearn-protocol-gen-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("generated code", () => {
  it("src/gen matches what buf + ts-proto generate from proto/ now (run `pnpm generate` if not)", () => {
    // Same template as the `generate` script, only the output base directory differs.
    execFileSync(join(pkg, "node_modules/.bin/buf"), ["generate", "--template", "buf.gen.yaml", "-o", out], {
      cwd: pkg,
      stdio: "pipe",
    });
    const committed = join(pkg, "src/gen");
    const fresh = join(out, "src/gen");
    const files = readdirSync(fresh).sort();
    expect(readdirSync(committed).sort()).toEqual(files);
    for (const f of files) {
      const same = readFileSync(join(fresh, f), "utf8") === readFileSync(join(committed, f), "utf8");
      expect(same, `src/gen/${f} is stale: run \`pnpm --filter @unlearn/protocol generate\``).toBe(true);
    }
  }, 30_000);
});
