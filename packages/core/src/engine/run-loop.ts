/**
 * The step loop every engine shares: draws ξ once per step (not at all when σ = 0, so a noiseless
 * run consumes no randomness), reports progress now and then, and stops on abort between steps.
 * ξ of step k + 1 is drawn while step k runs (two buffers, used in turn), so an engine that computes
 * off the main thread (onnxruntime, a GPU) hides the draw behind its step.
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
  /** One step; `xi` is null when σ = 0. May read `xi` until the step's promise settles, not after. */
  advance: (state: S, xi: Float32Array | null) => S | Promise<S>;
  options?: StepRunOptions;
}

export async function runLoop<S>(spec: LoopSpec<S>): Promise<S> {
  const { steps, noise, noiseLength, sigma, advance, options = {} } = spec;
  const { onProgress, signal } = options;
  let xi = sigma > 0 && steps > 0 ? new Float32Array(noiseLength) : null;
  let next = xi && steps > 1 ? new Float32Array(noiseLength) : null;
  const every = Math.max(1, Math.ceil(steps / PROGRESS_CALLS));
  let state = spec.state;
  if (signal?.aborted) throw abortError(signal);
  if (xi) noise.fill(xi);
  for (let k = 0; k < steps; k++) {
    if (signal?.aborted) throw abortError(signal);
    const pending = advance(state, xi);
    if (next && k + 1 < steps) noise.fill(next);
    state = await pending;
    [xi, next] = [next, xi];
    const done = k + 1;
    if (onProgress && (done % every === 0 || done === steps)) onProgress(done);
  }
  return state;
}
