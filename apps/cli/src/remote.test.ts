import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { remoteTarget } from "./remote.ts";
import { UsageError } from "./usage.ts";

const dir = mkdtempSync(join(tmpdir(), "unlearn-cli-token-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = (vars: Record<string, string>) => vars as unknown as NodeJS.ProcessEnv;

describe("the coordinator's token", () => {
  it("comes from UNLEARN_TOKEN without a word", () => {
    const warned: string[] = [];
    const target = remoteTarget({ coordinator: "h:1" }, env({ UNLEARN_TOKEN: "from-env" }), (t) =>
      warned.push(t),
    );
    expect(target).toEqual({ address: "h:1", token: "from-env" });
    expect(warned).toEqual([]);
  });

  it("comes from UNLEARN_TOKEN_FILE before UNLEARN_TOKEN, and a file others can read is refused", () => {
    const file = join(dir, "token");
    writeFileSync(file, "from-file\n", { mode: 0o600 });
    expect(
      remoteTarget({ coordinator: "h:1" }, env({ UNLEARN_TOKEN_FILE: file, UNLEARN_TOKEN: "x" })),
    ).toEqual({
      address: "h:1",
      token: "from-file",
    });
    chmodSync(file, 0o644);
    expect(() => remoteTarget({ coordinator: "h:1" }, env({ UNLEARN_TOKEN_FILE: file }))).toThrow(
      /mode 644 lets other users read the token \(chmod 600/,
    );
    expect(() =>
      remoteTarget({ coordinator: "h:1" }, env({ UNLEARN_TOKEN_FILE: join(dir, "none") })),
    ).toThrow(/UNLEARN_TOKEN_FILE .*none: ENOENT/);
  });

  it("--token still works but warns that it shows in ps and the shell's history", () => {
    const warned: string[] = [];
    const target = remoteTarget({ coordinator: "h:1", token: "flag" }, env({ UNLEARN_TOKEN: "env" }), (t) =>
      warned.push(t),
    );
    expect(target?.token).toBe("flag");
    expect(warned.join("")).toMatch(
      /--token shows in `ps` and your shell history; put the token in UNLEARN_TOKEN/,
    );
  });

  it("is required with a coordinator, and names every way to give it", () => {
    expect(() => remoteTarget({ coordinator: "h:1" }, env({}))).toThrow(UsageError);
    expect(() => remoteTarget({ coordinator: "h:1" }, env({}))).toThrow(
      /a token is required \(UNLEARN_TOKEN, UNLEARN_TOKEN_FILE or --token\)/,
    );
  });
});
