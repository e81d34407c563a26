export { type MinimizeOptions, type MinimizeResult, minimizeScalarBounded } from "./brent.ts";
export {
  type AccountantConstants,
  type AlphaRange,
  accountantConstants,
  checkConstants,
  DEFAULT_ALPHA_RANGE,
  SEQUENTIAL_ALPHA_RANGE,
} from "./constants.ts";
export { type D2DSequentialRequest, d2dSequential, d2dSigma } from "./d2d.ts";
export { AccountantError } from "./errors.ts";
export {
  epsilon0,
  epsilonAt,
  epsilonFloor,
  epsilonStar,
  type SequentialRequest,
  type SequentialSchedule,
  type StepsOptions,
  sequentialSchedule,
  sigmaFor,
  stepsFor,
  type UnlearningRequest,
} from "./langevin.ts";
export {
  type MinibatchRequest,
  minibatchEpsilon,
  minibatchSequential,
  minibatchStepsFor,
  minibatchZ,
} from "./minibatch.ts";
export { ALPHA_XATOL, type EpsilonAlpha, type StepsResult } from "./search.ts";
