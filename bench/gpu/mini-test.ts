/**
 * A small stand-in for the part of vitest's API that packages/core's engine tests use, so that
 * bench/gpu/pack.sh can bundle those same test files (esbuild aliases "vitest" to this module) and
 * run them on a GPU machine that has neither vitest nor a network. Tests run in declaration order,
 * one at a time; the report is one line per test and a closing "N passed, N failed, N skipped".
 */
import { isDeepStrictEqual } from "node:util";

type Fn = () => unknown | Promise<unknown>;
interface Test {
  name: string;
  fn: Fn;
  skip: boolean;
}
const tests: Test[] = [];
const afterHooks: Fn[] = [];
const prefix: string[] = [];
let skipDepth = 0;

function title(template: string, arg: unknown): string {
  if (typeof arg === "object" && arg !== null)
    return template.replace(/\$(\w+)/g, (_, key: string) => String((arg as Record<string, unknown>)[key]));
  return template.replace("%s", String(arg));
}

function defineTest(name: string, fn: Fn, skip = false): void {
  tests.push({ name: [...prefix, name].join(" > "), fn, skip: skip || skipDepth > 0 });
}

function defineSuite(name: string, fn: () => void, skip = false): void {
  prefix.push(name);
  if (skip) skipDepth++;
  try {
    fn();
  } finally {
    if (skip) skipDepth--;
    prefix.pop();
  }
}

type Each<R> = <T>(items: readonly T[]) => (name: string, fn: (item: T) => R) => void;

function withExtras<R>(base: (name: string, fn: () => R, skip?: boolean) => void) {
  const each: Each<R> = (items) => (name, fn) => {
    for (const item of items) base(title(name, item), () => fn(item));
  };
  // vitest also takes (name, options, fn); the options (timeouts) mean nothing here.
  const pick = (a: unknown, b: unknown) => (typeof a === "function" ? a : b) as () => R;
  return Object.assign((name: string, a: unknown, b?: unknown) => base(name, pick(a, b)), {
    each,
    skipIf: (cond: unknown) => (name: string, a: unknown, b?: unknown) =>
      base(name, pick(a, b), Boolean(cond)),
  });
}

export const describe = withExtras<void>(defineSuite);
export const it = withExtras<unknown>(defineTest);
export const test = it;
export function afterAll(fn: Fn): void {
  afterHooks.push(fn);
}

class Matchers {
  constructor(
    private readonly actual: unknown,
    private readonly message = "",
    private readonly negate = false,
  ) {}

  get not(): Matchers {
    return new Matchers(this.actual, this.message, !this.negate);
  }

  get rejects() {
    const settle = Promise.resolve(this.actual as Promise<unknown>).then(
      () => {
        throw new Error(`${this.message} expected a rejection, the promise resolved`);
      },
      (error: unknown) => new Matchers(error, this.message, this.negate),
    );
    return new Proxy({} as Record<string, (...args: unknown[]) => Promise<void>>, {
      get:
        (_, key: string) =>
        async (...args: unknown[]) => {
          const m = await settle;
          (m as unknown as Record<string, (...a: unknown[]) => void>)[key === "toThrow" ? "toBeError" : key](
            ...args,
          );
        },
    });
  }

  private check(pass: boolean, what: string): void {
    if (pass === this.negate)
      throw new Error(
        `${this.message ? `${this.message}: ` : ""}expected ${show(this.actual)} ${this.negate ? "not " : ""}${what}`,
      );
  }

  toBe(v: unknown) {
    this.check(Object.is(this.actual, v), `to be ${show(v)}`);
  }
  toEqual(v: unknown) {
    this.check(isDeepStrictEqual(normal(this.actual), normal(v)), `to equal ${show(v)}`);
  }
  toBeUndefined() {
    this.check(this.actual === undefined, "to be undefined");
  }
  toBeLessThan(v: number) {
    this.check((this.actual as number) < v, `to be < ${v}`);
  }
  toBeLessThanOrEqual(v: number) {
    this.check((this.actual as number) <= v, `to be ≤ ${v}`);
  }
  toBeGreaterThan(v: number) {
    this.check((this.actual as number) > v, `to be > ${v}`);
  }
  toBeGreaterThanOrEqual(v: number) {
    this.check((this.actual as number) >= v, `to be ≥ ${v}`);
  }
  toHaveLength(n: number) {
    this.check((this.actual as { length: number }).length === n, `to have length ${n}`);
  }
  toContain(part: unknown) {
    this.check((this.actual as string | unknown[]).includes(part as never), `to contain ${show(part)}`);
  }
  toMatch(re: RegExp | string) {
    this.check(new RegExp(re).test(String(this.actual)), `to match ${re}`);
  }
  toMatchObject(shape: Record<string, unknown>) {
    const a = this.actual as Record<string, unknown>;
    this.check(
      Object.entries(shape).every(([k, v]) => isDeepStrictEqual(a?.[k], v)),
      `to match ${show(shape)}`,
    );
  }
  /** `expect(error).toBeError(x)`: what `.rejects.toThrow(x)` checks once the promise has rejected. */
  toBeError(expected?: string | RegExp) {
    const message = this.actual instanceof Error ? this.actual.message : String(this.actual);
    this.check(
      expected === undefined ||
        (typeof expected === "string" ? message.includes(expected) : expected.test(message)),
      `to be an error matching ${String(expected)}`,
    );
  }
  toThrow(expected?: string | RegExp) {
    let error: unknown = null;
    try {
      (this.actual as () => unknown)();
    } catch (e) {
      error = e;
    }
    if (error === null) return this.check(false, "to throw");
    new Matchers(error, this.message, this.negate).toBeError(expected);
  }
}

function normal(v: unknown): unknown {
  return ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v;
}

function show(v: unknown): string {
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as ArrayLike<number>).length})`;
  if (typeof v === "function") return "[function]";
  try {
    return JSON.stringify(v)?.slice(0, 200) ?? String(v);
  } catch {
    return String(v);
  }
}

export function expect(actual: unknown, message?: string): Matchers {
  return new Matchers(actual, message);
}

/** Runs every test declared so far; resolves to the number that failed. */
export async function runAll(
  log: (line: string) => void,
): Promise<{ passed: number; failed: number; skipped: number }> {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const t of tests) {
    if (t.skip) {
      counts.skipped++;
      log(`  skip  ${t.name}`);
      continue;
    }
    const t0 = performance.now();
    try {
      await t.fn();
      counts.passed++;
      log(`  ok    ${t.name} (${Math.round(performance.now() - t0)} ms)`);
    } catch (error) {
      counts.failed++;
      log(`  FAIL  ${t.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  for (const hook of afterHooks) await hook();
  return counts;
}
