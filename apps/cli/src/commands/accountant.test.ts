import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import { formatTable, run } from "./accountant.ts";

const MNIST = ["--n", "11982", "--lambda", "1e-6", "--L", "0.194700544"];

/** Runs the command in-process, capturing what it prints. */
async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void err.push(a.join(" ")));
  const code = await run(argv);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

afterEach(() => vi.restoreAllMocks());

describe("accountant command: the contract's outputs", () => {
  it("k: K = 1485, and 1491 with --granularity 10", async () => {
    const r = await capture([
      "k",
      ...MNIST,
      "--epsilon",
      "1",
      "--sigma",
      "0.03",
      "--removals",
      "100",
      "--json",
    ]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(Object.keys(json)).toEqual(["K", "alpha", "epsilon"]);
    expect(json.K).toBe(1485);
    const g = await capture([
      "k",
      ...MNIST,
      "--epsilon",
      "1",
      "--sigma",
      "0.03",
      "--removals",
      "100",
      "--granularity",
      "10",
      "--json",
    ]);
    expect(JSON.parse(g.out).K).toBe(1491);
  });

  it("sigma, epsilon0, schedule, d2d, d2d-sequential print the contract's keys", async () => {
    const sigma = JSON.parse(
      (await capture(["sigma", ...MNIST, "--epsilon", "0.05", "--k", "2", "--alpha-min", "2", "--json"])).out,
    );
    expect(Object.keys(sigma)).toEqual(["sigma", "K"]);
    expect(sigma.sigma).toBeCloseTo(0.18714, 4);
    const e0 = JSON.parse(
      (await capture(["epsilon0", ...MNIST, "--sigma", "0.05", "--removals", "100", "--json"])).out,
    );
    expect(Object.keys(e0)).toEqual(["epsilon0", "alpha"]);
    const schedule = JSON.parse(
      (
        await capture([
          "schedule",
          ...MNIST,
          "--sigma",
          "0.03",
          "--epsilon",
          "1",
          "--batch",
          "20",
          "--total",
          "100",
          "--json",
        ])
      ).out,
    );
    expect(Object.keys(schedule)).toEqual(["k", "accumulated"]);
    expect(schedule.k).toHaveLength(5);
    const d2d = JSON.parse(
      (await capture(["d2d", ...MNIST, "--d", "784", "--I", "2", "--epsilon", "1", "--json"])).out,
    );
    expect(d2d.sigma).toBeCloseTo(0.8864207470922738, 12);
    const seq = JSON.parse(
      (
        await capture([
          "d2d-sequential",
          ...MNIST,
          "--d",
          "784",
          "--epsilon",
          "1",
          "--factor",
          "1.5",
          "--total",
          "100",
          "--json",
        ])
      ).out,
    );
    expect(seq.I).toHaveLength(100);
    expect(seq.I[0]).toBe(123);
  });

  it("--dataset mnist-3v8 --smoothness data takes n and L_data from @unlearn/core: K = 1485", async () => {
    const r = await capture([
      "k",
      "--dataset",
      "mnist-3v8",
      "--smoothness",
      "data",
      "--epsilon",
      "1",
      "--sigma",
      "0.03",
      "--removals",
      "100",
      "--json",
    ]);
    expect(r.err).toBe("");
    expect(JSON.parse(r.out).K).toBe(1485);
    // Without --smoothness: the same default as a sweep's config (data), so the same K as a sweep.
    const byDefault = await capture([
      "k",
      "--dataset",
      "mnist-3v8",
      "--epsilon",
      "1",
      "--sigma",
      "0.03",
      "--removals",
      "100",
      "--json",
    ]);
    expect(JSON.parse(byDefault.out).K).toBe(1485);
    expect(
      (await import("@unlearn/sweep")).parseConfig({
        name: "x",
        figure: "fig5",
        dataset: "mnist-3v8",
        removals: [1],
        epsilons: [1],
        sigma: 0.03,
      }).smoothness,
    ).toBe("data");
  }, 30_000);

  it("--multiclass and the default L change the constants", async () => {
    const bound = JSON.parse(
      (
        await capture([
          "k",
          "--n",
          "11982",
          "--epsilon",
          "1",
          "--sigma",
          "0.03",
          "--removals",
          "100",
          "--json",
        ])
      ).out,
    );
    expect(bound.K).toBeGreaterThan(1485); // L_bound > L_data: a smaller step, more steps
    const multi = JSON.parse(
      (
        await capture([
          "k",
          "--n",
          "11982",
          "--multiclass",
          "--epsilon",
          "1",
          "--sigma",
          "0.03",
          "--removals",
          "100",
          "--json",
        ])
      ).out,
    );
    expect(multi.K).not.toBe(bound.K);
  });

  it("prints an aligned table without --json", async () => {
    const r = await capture([
      "schedule",
      ...MNIST,
      "--sigma",
      "0.03",
      "--epsilon",
      "1",
      "--batch",
      "50",
      "--total",
      "100",
    ]);
    const lines = r.out.split("\n");
    expect(lines[0]).toMatch(/^request\s+removed\s+k\s+accumulated\s+alpha\s+epsilon$/);
    expect(lines).toHaveLength(4);
    expect(new Set(lines.map((l) => l.length)).size).toBeLessThanOrEqual(2); // columns line up
  });

  it("--help for each quantity", async () => {
    const r = await capture(["d2d-sequential", "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--factor <value>/);
    expect(r.out).toMatch(/--alpha-min <value>/);
  });
});

describe("accountant command: errors name the flag", () => {
  const cases: [string[], number, RegExp][] = [
    [
      ["k", ...MNIST, "--epsilon", "0", "--sigma", "0.03", "--removals", "1"],
      2,
      /--epsilon: epsilon must be .* > 0/,
    ],
    [
      // A negative value reaches the accountant's own check, not Node's "argument is ambiguous".
      ["k", ...MNIST, "--epsilon", "-1", "--sigma", "0.03", "--removals", "1"],
      2,
      /^error: --epsilon: epsilon must be .* > 0, got -1\n\(run `pnpm accountant k --help` for the options\)$/,
    ],
    [
      ["k", ...MNIST, "--epsilon", "1e-4", "--sigma", "0.03", "--removals", "1"],
      1,
      /unreachable.*floor.*0\.000939/,
    ],
    [["k", ...MNIST, "--epsilon", "1", "--sigma", "0", "--removals", "1"], 2, /--sigma: sigma must/],
    [
      ["k", ...MNIST, "--epsilon", "1", "--sigma", "0.03", "--removals", "12000"],
      2,
      /--removals: .*exceeds .* n = 11982/,
    ],
    [
      ["k", ...MNIST, "--epsilon", "1", "--sigma", "x", "--removals", "1"],
      2,
      /--sigma: expected a number, got "x"/,
    ],
    [
      ["k", ...MNIST, "--epsilon", "1", "--sigma", "0.1", "--removals", "1.5"],
      2,
      /--removals: expected an integer/,
    ],
    [
      ["k", ...MNIST, "--epsilon", "1", "--sigma", "0.1", "--removals", "1", "--frob", "2"],
      2,
      /unknown option --frob/,
    ],
    [["k", ...MNIST, "--epsilon", "1", "--removals", "1"], 2, /missing --sigma/],
    [["k", "--epsilon", "1", "--sigma", "0.1", "--removals", "1"], 2, /missing --n/],
    [["k", "--n", "-", "--epsilon", "1", "--sigma", "0.1", "--removals", "1"], 2, /--n: expected a number/],
    [
      ["k", ...MNIST, "--dataset", "mnist-3v8", "--epsilon", "1", "--sigma", "0.1", "--removals", "1"],
      2,
      /--n cannot be combined with --dataset/,
    ],
    [["frobnicate"], 2, /unknown accountant quantity "frobnicate"/],
    [["constructor"], 2, /unknown accountant quantity "constructor"/],
    [[], 2, /^error: no quantity given/],
  ];
  for (const [argv, code, message] of cases) {
    it(`${argv.filter((a) => !MNIST.includes(a)).join(" ")} → exit ${code}`, async () => {
      const r = await capture(argv);
      expect(r.code).toBe(code);
      expect(r.out).toBe("");
      expect(r.err).toMatch(message);
    });
  }
});

describe("formatTable", () => {
  it("right-aligns numeric columns and left-aligns text", () => {
    expect(
      formatTable(
        ["name", "v"],
        [
          ["a", 1.5],
          ["bbb", 10],
        ],
      ),
    ).toBe("name    v\n----  ---\na     1.5\nbbb    10");
  });
});

describe("pnpm --silent accountant … --json", () => {
  it("prints only the JSON object on stdout", async () => {
    const root = fileURLToPath(new URL("../../../../", import.meta.url));
    const { stdout } = await promisify(execFile)(
      "pnpm",
      [
        "--silent",
        "accountant",
        "k",
        ...MNIST,
        "--epsilon",
        "1",
        "--sigma",
        "0.03",
        "--removals",
        "100",
        "--json",
      ],
      { cwd: root },
    );
    expect(stdout.trim().split("\n")).toHaveLength(1);
    expect(JSON.parse(stdout)).toMatchObject({ K: 1485 });
  }, 30_000);
});
