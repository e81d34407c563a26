/**
 * The step loop every engine shares: draws ξ once per step (not at all when σ = 0, so a noiseless
 * run consumes no randomness), reports progress now and then, and stops on abort between steps.
 */
import type { NoiseSource, StepRunOptions } from "./types.ts";

/** At most this many progress callbacks per run (plus the final one), so callers can redraw cheaply. */
const PROGRESS_CALLS = 100;

export function abortError(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === "AbortError") return reason;
  return new DOMException(
    reason === undefined ? "The step run was aborted" : `The step run was aborted: ${String(reason)}`,
    "AbortError",
  );
}

export interface LoopSpec<S> {
  state: S;
  steps: number;
  noise: NoiseSource;
  /** Length of ξ (= W's length). */
  noiseLength: number;
  sigma: number;
  /** One step; `xi` is null when σ = 0. May reuse `xi` only until it returns. */
  advance: (state: S, xi: Float32Array | null) => S | Promise<S>;
  options?: StepRunOptions;
}

export async function runLoop<S>(spec: LoopSpec<S>): Promise<S> {
  const { steps, noise, noiseLength, sigma, advance, options = {} } = spec;
  const { onProgress, signal } = options;
  const xi = sigma > 0 ? new Float32Array(noiseLength) : null;
  const every = Math.max(1, Math.ceil(steps / PROGRESS_CALLS));
  let state = spec.state;
  for (let k = 0; k < steps; k++) {
    if (signal?.aborted) throw abortError(signal);
    if (xi) noise.fill(xi);
    state = await advance(state, xi);
    const done = k + 1;
    if (onProgress && (done % every === 0 || done === steps)) onProgress(done);
  }
  return state;
}
