import { describe, expect, it } from "vitest";
import { type MinimizeOptions, minimizeScalarBounded } from "./brent.ts";
import { AccountantError } from "./errors.ts";

/**
 * Every trial point, in order, against scipy 1.17.1's minimize_scalar(method="bounded") on the same
 * function (recorded by wrapping f). The accountant's K lands on the paper's integers only if the
 * minimiser visits the points scipy visits; a final x within tolerance would hide a changed
 * golden-section or parabolic step, or a changed stopping rule. Regenerate with scipy, never by hand.
 */
const TRACES: {
  name: string;
  f: (x: number) => number;
  lo: number;
  hi: number;
  options: MinimizeOptions;
  trace: number[];
}[] = [
  {
    name: "sin(x)+sin(10x/3)",
    f: (x) => Math.sin(x) + Math.sin((10 * x) / 3),
    lo: 2.7,
    hi: 7.5,
    options: {},
    trace: [
      4.533436854000504, 5.666563145999495, 6.366873708001009, 5.147698256466365, 5.111641002069035,
      5.14848349268364, 5.145723995772661, 5.1457355960641635, 5.145732186407237, 5.14573900572109,
    ],
  },
  {
    name: "exp(x) − 5x",
    f: (x) => Math.exp(x) - 5 * x,
    lo: 0,
    hi: 5,
    options: {},
    trace: [
      1.9098300562505255, 3.0901699437494736, 1.1803398874989486, 1.5694586896231368, 1.5883939173898687,
      1.6065735402450783, 1.609608269853963, 1.609447298001255, 1.6094378268742549, 1.609441184079409,
      1.6094344696691008,
    ],
  },
  {
    name: "x³ − x",
    f: (x) => x ** 3 - x,
    lo: -2,
    hi: 2,
    options: {},
    trace: [
      -0.4721359549995796, 0.47213595499957917, 1.055728090000841, 0.3680339887498948, 0.5434767724994851,
      0.5891586735921617, 0.5779489749005543, 0.5772294910394403, 0.577351866143333, 0.5773485242464876,
      0.5773552080401784,
    ],
  },
  {
    name: "RDP-like over α",
    f: (x) => (x * 0.03) / 2 + Math.log(1e4) / (x - 1),
    lo: 1.0001,
    hi: 10000.0,
    options: {},
    trace: [
      3820.2782082932004, 6180.721891706799, 2361.4437834135997, 1459.8345248796013, 902.6093585339989,
      558.2252663456026, 345.38419218839647, 213.84117415720618, 132.54311803119032, 82.2981561260159,
      51.24506190517444, 32.053194220841476, 20.191967684332965, 26.861122987048105, 26.50270838521619,
      25.531220231904683, 23.491807233251752, 25.77289604046381, 25.783166347220543, 25.779467215820176,
      25.77948174784619, 25.779478032141352, 25.77948546355103,
    ],
  },
  {
    name: "cos near π, xatol 1e-2",
    f: (x) => Math.cos(x),
    lo: 3,
    hi: 4,
    options: { xatol: 0.01 },
    trace: [
      3.381966011250105, 3.618033988749895, 3.23606797749979, 3.1357071535780228, 3.1413013496116706,
      3.1446347295380326,
    ],
  },
  {
    name: "steep wall near lo",
    f: (x) => 1 / (x - 0.999) + x,
    lo: 1,
    hi: 100,
    options: {},
    trace: [
      38.8146351137604, 62.18536488623958, 24.37072977247918, 15.443905341281232, 9.926824431197952,
      6.517080910083282, 4.40974352111467, 3.1073373889686113, 2.30240613214606, 1.804931256822552,
      2.0004798305677363, 2.0284034903941226, 2.001979209727587, 1.9989321751470523, 1.9989979470035337,
      1.9990013099867983, 1.9990046729701125,
    ],
  },
  {
    name: "|x − 0.3| on a wide interval",
    f: (x) => Math.abs(x - 0.3),
    lo: -1000,
    hi: 1000,
    options: {},
    trace: [
      -236.06797749978978, 236.0679774997896, 527.8640450004204, 0.4847941103830351, 0.1501172710315531,
      -13.420315261364111, -5.0333267143062805, 0.05683426126454538, 0.2972431018269766, 0.3085976367617172,
      0.2760047640726859, 0.2973849397772831, 0.3010160543710902, 0.30391196115580205, 0.3006849090721081,
      0.2997049472362494, 0.29976183325536065, 0.3000635724221165, 0.3003009019039573, 0.300158933512675,
      0.299985479004975, 0.2999000539300618, 0.2999929836740729, 0.3000109094365782, 0.29999983070607567,
      0.30000316848912556, 0.29999649292302577,
    ],
  },
];

describe("minimizeScalarBounded visits scipy's trial points", () => {
  for (const c of TRACES) {
    it(c.name, () => {
      const seen: number[] = [];
      const r = minimizeScalarBounded(
        (x) => {
          seen.push(x);
          return c.f(x);
        },
        c.lo,
        c.hi,
        c.options,
      );
      expect(seen.length).toBe(c.trace.length);
      for (let i = 0; i < seen.length; i++) {
        // JS and libm may differ in the last bit of sin/exp: 1e-9 relative is far below any step change.
        expect(
          Math.abs(seen[i]! - c.trace[i]!),
          `trial ${i}: ${seen[i]} vs ${c.trace[i]}`,
        ).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(c.trace[i]!)));
      }
      expect(r.iterations).toBe(c.trace.length);
      expect(r.converged).toBe(true);
      // Out of evaluations one short of scipy's count: the same points, and not converged.
      const short = minimizeScalarBounded(c.f, c.lo, c.hi, { ...c.options, maxiter: c.trace.length - 1 });
      expect(short.iterations).toBe(c.trace.length - 1);
      expect(short.converged).toBe(false);
      const exact = minimizeScalarBounded(c.f, c.lo, c.hi, { ...c.options, maxiter: c.trace.length });
      expect(exact).toEqual(r);
    });
  }
});

describe("minimizeScalarBounded argument checks name the field", () => {
  const field = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(AccountantError);
      return (err as AccountantError).field;
    }
    return "no error";
  };
  it("bounds, xatol, maxiter and a NaN objective", () => {
    const id = (x: number) => x;
    expect(field(() => minimizeScalarBounded(id, 0, Number.NaN))).toBe("bounds");
    expect(field(() => minimizeScalarBounded(id, 2, 1))).toBe("bounds");
    expect(field(() => minimizeScalarBounded(id, 0, 1, { xatol: -1 }))).toBe("xatol");
    expect(field(() => minimizeScalarBounded(id, 0, 1, { maxiter: 0 }))).toBe("maxiter");
    expect(field(() => minimizeScalarBounded(id, 0, 1, { maxiter: 2.5 }))).toBe("maxiter");
    expect(() => minimizeScalarBounded(id, 0, 1, { maxiter: 0 })).toThrow(
      /maxiter must be an integer ≥ 1, got 0/,
    );
    expect(field(() => minimizeScalarBounded(() => Number.NaN, 0, 1))).toBe("f");
    // Allowed edges: maxiter 1 (as in scipy, the start and one step are evaluated before the count is
    // checked), and an interval of zero width.
    expect(minimizeScalarBounded(id, 0, 1, { maxiter: 1 }).iterations).toBe(2);
    expect(minimizeScalarBounded(id, 1, 1).x).toBe(1);
  });
});
