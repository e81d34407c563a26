/** A job's outcome as every transport builds and stores it: one failed-result builder, one commit. */
import type { Store } from "@unlearn/db";
import type { Job, JobResult } from "@unlearn/protocol";
import type { DispatchOutput } from "./dispatcher.ts";

/** The result of a job that did not finish: no accuracies, no chains, the error that stopped it. */
export function failedResult(
  job: Pick<Job, "id" | "engine">,
  error: string,
  worker = "",
  wallMs = 0,
): JobResult {
  return {
    jobId: job.id,
    ok: false,
    error,
    accuracies: [],
    artifactKey: "",
    stepsRun: 0,
    wallMs,
    msPerStep: 0,
    engine: job.engine,
    worker,
  };
}

/** Whether an output counts as a success: an ok result and the chains it produced. */
export function isSuccess(output: DispatchOutput): boolean {
  return output.result.ok && output.artifact !== undefined;
}

/** Why an output counts as a failure (an ok result without chains is one too). */
export function failureOf({ result }: DispatchOutput): string {
  if (result.ok) return "it reported success without its chains";
  return result.error || "failed without an error message";
}

/**
 * Stores a job's outcome: the chains before the result, because a result is what marks a job done,
 * so a crash between the two leaves a job to run again, never a result without its chains. A failed
 * outcome marks the job failed with its error (a later run may still succeed).
 */
export async function commitOutput(store: Store, output: DispatchOutput): Promise<void> {
  const { result, artifact } = output;
  if (!isSuccess(output)) {
    await store.saveResult({ ...result, ok: false, error: failureOf(output) });
    return;
  }
  // Chains are stored where a job starts from them or a sweep keeps them (Store.wantsChains): a leaf's
  // accuracies are its result, and its chains (313 kB at MNIST's 100 chains) would only take room.
  if (await store.wantsChains(result.jobId)) {
    const { W, shape } = artifact!;
    const bytes = new Uint8Array(W.buffer, W.byteOffset, W.byteLength);
    await store.putArtifact(result.artifactKey || result.jobId, bytes, { shape, dtype: "float32" });
  }
  await store.saveResult(result);
}
