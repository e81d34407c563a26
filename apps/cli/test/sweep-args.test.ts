/** `pnpm sweep` command-line and config errors, run in-process (no sweep starts for any of them). */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { run } from "../src/commands/sweep.ts";

function capture() {
  const err = vi.spyOn(console, "error").mockImplementation(() => {});
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  return {
    err: () => err.mock.calls.map((c) => c.join(" ")).join("\n"),
    log: () => log.mock.calls.map((c) => c.join(" ")).join("\n"),
  };
}
afterEach(() => vi.restoreAllMocks());

describe("pnpm sweep arguments", () => {
  it("--help lists the options and the presets", async () => {
    const io = capture();
    expect(await run(["--help"])).toBe(0);
    for (const text of [
      "--config FILE|PRESET",
      "--burn-in N",
      "--workers N",
      "--db PATH|URL",
      "--json",
      "fig5",
      "cifar10-3v8-fig4",
      "cifar10-multi-fig3b",
    ])
      expect(io.log()).toContain(text);
    expect(io.log()).toMatch(/Without --db: \$UNLEARN_DB, else \$DATABASE_URL,\s+else \.unlearn\/db/);
  });

  it("rejects bad flags with exit code 2, naming the flag", async () => {
    const cases: [string[], RegExp][] = [
      [[], /--config is required/],
      [["--config", "fig5", "--chains", "abc"], /--chains: expected an integer ≥ 1, got "abc"/],
      [["--config", "fig5", "--workers", "0"], /--workers: expected an integer ≥ 1, got "0"/],
      [["--config", "fig5", "--seed=-1"], /--seed: expected an integer ≥ 0, got "-1"/],
      [["--config", "fig5", "--colour"], /unknown option --colour/],
      // A negative value after a flag reaches the flag's own check (not Node's "argument is ambiguous").
      [["--config", "fig5", "--chains", "-5"], /--chains: expected an integer ≥ 1, got "-5"/],
      [["--config", "fig5", "--seed", "-1"], /--seed: expected an integer ≥ 0, got "-1"/],
      [["--config", "fig5", "--burn-in", "-0.5"], /--burn-in: expected an integer ≥ 1, got "-0.5"/],
      [["--config", "fig5", "--db"], /--db needs a value/],
      [["--config", "fig5", "constructor"], /unexpected argument "constructor"/],
    ];
    for (const [args, message] of cases) {
      const io = capture();
      expect(await run(args), args.join(" ")).toBe(2);
      expect(io.err()).toMatch(message);
      // One error line and a one-line pointer to --help.
      expect(io.err()).toMatch(/^error: [^\n]+\n\(run `pnpm sweep --help` for the options\)$/);
      vi.restoreAllMocks();
    }
  });

  it("reports config problems naming the file, the field and the allowed values", async () => {
    let io = capture();
    expect(await run(["--config", "no-such-preset"])).toBe(2);
    expect(io.err()).toMatch(/config file "no-such-preset" not found/);
    vi.restoreAllMocks();
    io = capture();
    expect(await run(["--config", "fig5", "--engine", "gpu"])).toBe(2);
    expect(io.err()).toMatch(
      /fig5\.json: invalid sweep config:\n {2}engine: expected one of "onnx" \| "tfjs" \| "reference" \| "webgpu" \(got "gpu"\) \(from --engine\)/,
    );
    vi.restoreAllMocks();
    io = capture();
    expect(await run(["--config", "cifar10-3v8-fig5"])).toBe(2);
    expect(io.err()).toMatch(/featuresDir: ".*data\/cifar10-features" does not exist/);
    vi.restoreAllMocks();
    io = capture();
    expect(await run(["--config", "fig5", "--features-dir", "/nowhere", "--dataset", "cifar10-multi"])).toBe(
      2,
    );
    expect(io.err()).toMatch(/featuresDir: "\/nowhere" does not exist/);
  });

  it("fails to plan, clearly, a grid the dataset cannot hold", async () => {
    const dir = mkdtempSync(join(tmpdir(), "unlearn-args-"));
    const file = join(dir, "big.json");
    const config = {
      name: "too many",
      figure: "fig5",
      dataset: "synthetic?n=50&d=3&test=20&classes=2&seed=1",
      removals: [60],
      epsilons: [1],
      sigma: 0.1,
    };
    writeFileSync(file, JSON.stringify(config));
    const io = capture();
    expect(await run(["--config", file, "--db", "memory://"])).toBe(2);
    expect(io.err()).toMatch(
      /cannot plan the sweep: removals: 60 removals, but the training set has only 50 rows/,
    );
  });
});
