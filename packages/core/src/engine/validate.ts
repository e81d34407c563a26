/**
 * Input checks shared by every engine, so that a bad training set or step parameter fails once,
 * before any step runs, with an error that names the field and the value.
 */
import type { StepParams, TrainMatrix } from "./types.ts";

export class EngineInputError extends Error {
  override name = "EngineInputError";
}

/** Row norms may drift from 1 by float32 rounding; the clipping shortcut of docs/science.md §3 needs ‖x_i‖ = 1. */
const UNIT_NORM_TOLERANCE = 1e-3;

function isPositiveInteger(v: number): boolean {
  return Number.isInteger(v) && v > 0;
}

export function checkTrainMatrix(data: TrainMatrix): void {
  const { X, y, n, d, classes } = data;
  if (!isPositiveInteger(n)) throw new EngineInputError(`TrainMatrix.n must be a positive integer, got ${n}`);
  if (!isPositiveInteger(d)) throw new EngineInputError(`TrainMatrix.d must be a positive integer, got ${d}`);
  if (!Number.isInteger(classes) || classes < 2) {
    throw new EngineInputError(`TrainMatrix.classes must be an integer ≥ 2, got ${classes}`);
  }
  if (!(X instanceof Float32Array)) throw new EngineInputError("TrainMatrix.X must be a Float32Array");
  if (!(y instanceof Float32Array)) throw new EngineInputError("TrainMatrix.y must be a Float32Array");
  checkTrainRows("TrainMatrix", X, y, n, d, classes);
}

/** Lengths, labels and unit row norms of n rows (a training set, or a batch block's replaced rows). */
export function checkTrainRows(
  name: string,
  X: Float32Array,
  y: Float32Array,
  n: number,
  d: number,
  classes: number,
): void {
  if (X.length !== n * d) {
    throw new EngineInputError(`${name}.X has length ${X.length}, expected n·d = ${n}·${d} = ${n * d}`);
  }
  if (y.length !== n) throw new EngineInputError(`${name}.y has length ${y.length}, expected n = ${n}`);
  for (let i = 0; i < n; i++) {
    const v = y[i];
    if (classes === 2 ? v !== 1 && v !== -1 : !(Number.isInteger(v) && v >= 0 && v < classes)) {
      const want = classes === 2 ? "±1 (binary)" : `a class index in 0…${classes - 1}`;
      throw new EngineInputError(`${name}.y[${i}] = ${v}, expected ${want}`);
    }
    let sq = 0;
    for (let j = i * d, end = j + d; j < end; j++) sq += X[j] * X[j];
    if (!Number.isFinite(sq) || Math.abs(Math.sqrt(sq) - 1) > UNIT_NORM_TOLERANCE) {
      throw new EngineInputError(
        `${name}.X row ${i} has L2 norm ${Math.sqrt(sq)}; engines need unit-norm rows (docs/science.md §1)`,
      );
    }
  }
}

export function checkStepParams(params: StepParams): void {
  const { eta, m, clip, sigma, chains } = params;
  const positive: [string, number][] = [
    ["eta", eta],
    ["clip", clip],
  ];
  for (const [name, v] of positive) {
    if (!(Number.isFinite(v) && v > 0))
      throw new EngineInputError(`StepParams.${name} must be > 0, got ${v}`);
  }
  const nonNegative: [string, number][] = [
    ["m", m],
    ["sigma", sigma],
  ];
  for (const [name, v] of nonNegative) {
    if (!(Number.isFinite(v) && v >= 0))
      throw new EngineInputError(`StepParams.${name} must be ≥ 0, got ${v}`);
  }
  if (!isPositiveInteger(chains)) {
    throw new EngineInputError(`StepParams.chains must be a positive integer, got ${chains}`);
  }
}

/** Columns of W: T for binary, T·C for multiclass (chain t owns columns t·C … t·C + C − 1). */
export function weightColumns(data: TrainMatrix, params: StepParams): number {
  return data.classes === 2 ? params.chains : params.chains * data.classes;
}

export function checkWeights(name: string, W: Float32Array, expected: number): void {
  if (!(W instanceof Float32Array)) throw new EngineInputError(`${name} must be a Float32Array`);
  if (W.length !== expected) {
    throw new EngineInputError(`${name} has length ${W.length}, expected d·columns = ${expected}`);
  }
}

export function checkSteps(steps: number): void {
  if (!(Number.isInteger(steps) && steps >= 0)) {
    throw new EngineInputError(`steps must be a non-negative integer, got ${steps}`);
  }
}

/** A batch run's starting step per block. */
export function checkStarts(start: readonly number[], blocks: number): void {
  if (!Array.isArray(start) || start.length !== blocks)
    throw new EngineInputError(`start must list one step per block (${blocks}), got ${String(start)}`);
  start.forEach((s, b) => {
    if (!(Number.isInteger(s) && s >= 0 && s <= 0xffffffff))
      throw new EngineInputError(`start[${b}] must be an integer step in 0…2³²−1, got ${s}`);
  });
}

/** The arguments of every BatchStepper.run: W of `length` values, a step count, one start per block. */
export function checkBatchRun(
  W: Float32Array,
  length: number,
  steps: number,
  start: readonly number[],
  blocks: number,
): void {
  checkWeights("W", W, length);
  checkSteps(steps);
  checkStarts(start, blocks);
}
