/**
 * Chains between jobs: a job's final W goes into the JetStream object store under its job id, with its
 * shape in the object's metadata; the jobs that start from it read it there. Workers need no database.
 */
import type { ObjectStore } from "@nats-io/obj";

export interface Chains {
  W: Float32Array;
  shape: [number, number];
}

export async function putChains(store: ObjectStore, jobId: string, chains: Chains): Promise<void> {
  const { W, shape } = chains;
  if (shape[0] * shape[1] !== W.length)
    throw new Error(`chains of ${jobId}: shape ${shape.join("×")} does not hold ${W.length} values`);
  const bytes = new Uint8Array(W.buffer, W.byteOffset, W.byteLength);
  await store.putBlob({ name: jobId, metadata: { shape: shape.join(","), dtype: "float32" } }, bytes);
}

/** The chains stored under `jobId`, or null when there are none. Throws when the stored object is corrupt. */
export async function getChains(store: ObjectStore, jobId: string): Promise<Chains | null> {
  const info = await store.info(jobId);
  if (!info || info.deleted) return null;
  const bytes = await store.getBlob(jobId);
  if (!bytes) return null;
  const dims = (info.metadata?.shape ?? "").split(",").map(Number);
  if (
    dims.length !== 2 ||
    dims.some((n) => !Number.isInteger(n) || n < 1) ||
    dims[0]! * dims[1]! * 4 !== bytes.length
  )
    throw new Error(
      `chains of ${jobId} in the object store: metadata shape "${info.metadata?.shape}" does not fit ${bytes.length} bytes`,
    );
  // A copy into an aligned buffer of its own: getBlob's bytes may sit at any offset.
  const W = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(W.buffer).set(bytes);
  return { W, shape: [dims[0]!, dims[1]!] };
}
