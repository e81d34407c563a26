/**
 * Chains between jobs. A job's final W lives in the object store CHAINS_BUCKET under its job id, with
 * its shape in the object's metadata; the jobs that start from it read it there. Only the coordinator
 * writes that bucket: a worker uploads its chains into UPLOADS_BUCKET under a name derived from its
 * dispatch's nonce (dispatch.ts's uploadName), with their SHA-256 in its result, and the coordinator,
 * once the result proved its dispatch, checks the bytes against that digest and seals them into
 * CHAINS_BUCKET (sealChains). A worker can thus neither overwrite a job's chains nor pass off bytes it
 * did not report.
 *
 * Object-store calls are retried with backoff (withRetry): a bucket unreadable for a while delays a
 * job instead of failing it. Only a corrupt or rejected object is an answer.
 */
import { createHash } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { Base64UrlPaddedCodec, type ObjectStore } from "@nats-io/obj";
import { headers, type NatsConnection, nuid } from "@nats-io/transport-node";
import { UPLOADS_BUCKET } from "./names.ts";

export interface Chains {
  W: Float32Array;
  shape: [number, number];
}

/** Chains that are there but wrong (shape, digest): retrying cannot mend them. */
export class ChainsRejected extends Error {
  override name = "ChainsRejected";
}

function bytesOf({ W, shape }: Chains, what: string): Uint8Array {
  if (shape[0] * shape[1] !== W.length)
    throw new ChainsRejected(`chains of ${what}: shape ${shape.join("×")} does not hold ${W.length} values`);
  return new Uint8Array(W.buffer, W.byteOffset, W.byteLength);
}

const metadataOf = (shape: [number, number]) => ({ shape: shape.join(","), dtype: "float32" });

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export interface RetryOptions {
  /** give up after this long (ms); the last error is thrown */
  forMs?: number;
  log?(line: string): void;
}

/**
 * Runs `fn` until it succeeds, waiting 0.5 s, 1 s, 2 s … (at most 10 s) between tries, for up to
 * `forMs` (default 10 min). A ChainsRejected is an answer, not a transient error: it is thrown at once.
 */
export async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.forMs ?? 600_000);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof ChainsRejected || Date.now() >= deadline) throw error;
      const wait = Math.min(10_000, 500 * 2 ** (attempt - 1));
      if (attempt === 1 || attempt % 10 === 0)
        options.log?.(
          `${what} failed (attempt ${attempt}), retrying in ${wait} ms: ${(error as Error).message}`,
        );
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

export async function putChains(store: ObjectStore, jobId: string, chains: Chains): Promise<void> {
  const bytes = bytesOf(chains, jobId);
  await store.putBlob({ name: jobId, metadata: metadataOf(chains.shape) }, bytes);
}

function decodeChains(what: string, shapeText: string | undefined, bytes: Uint8Array): Chains {
  const dims = (shapeText ?? "").split(",").map(Number);
  if (
    dims.length !== 2 ||
    dims.some((n) => !Number.isInteger(n) || n < 1) ||
    dims[0]! * dims[1]! * 4 !== bytes.length
  )
    throw new ChainsRejected(
      `chains of ${what}: metadata shape "${shapeText}" does not fit ${bytes.length} bytes`,
    );
  // A copy into an aligned buffer of its own: getBlob's bytes may sit at any offset.
  const W = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(W.buffer).set(bytes);
  return { W, shape: [dims[0]!, dims[1]!] };
}

/** The chains stored under `name`, or null when there are none. Throws ChainsRejected when corrupt. */
export async function getChains(store: ObjectStore, name: string): Promise<Chains | null> {
  const info = await store.info(name);
  if (!info || info.deleted) return null;
  const bytes = await store.getBlob(name);
  if (!bytes) return null;
  return decodeChains(`${name} in the object store`, info.metadata?.shape, bytes);
}

const MAX_CHUNK = 128 * 1024;

/**
 * A worker's upload: the object-store layout (chunks on $O.<bucket>.C.<nuid>, then the meta message
 * on $O.<bucket>.M.<base64 name>) written with plain JetStream publishes, because the library's put
 * first reads the bucket, and a worker may not read the uploads of others (their names would tell
 * where to write). Returns the SHA-256 (hex) of the bytes, for the result.
 */
export async function uploadChains(nc: NatsConnection, name: string, chains: Chains): Promise<string> {
  const js = jetstream(nc);
  const bytes = bytesOf(chains, name);
  const id = nuid.next();
  const chunk = Math.min(MAX_CHUNK, nc.info?.max_payload ?? MAX_CHUNK);
  let chunks = 0;
  for (let at = 0; at < bytes.length; at += chunk) {
    await js.publish(`$O.${UPLOADS_BUCKET}.C.${id}`, bytes.subarray(at, at + chunk));
    chunks++;
  }
  const digest = createHash("sha256").update(bytes).digest();
  const meta = {
    name,
    description: "",
    options: { max_chunk_size: chunk },
    metadata: metadataOf(chains.shape),
    bucket: UPLOADS_BUCKET,
    nuid: id,
    size: bytes.length,
    chunks,
    mtime: new Date().toISOString(),
    digest: `SHA-256=${Base64UrlPaddedCodec.encode(digest)}`,
    deleted: false,
  };
  const h = headers();
  h.set("Nats-Rollup", "sub");
  await js.publish(`$O.${UPLOADS_BUCKET}.M.${Base64UrlPaddedCodec.encode(name)}`, JSON.stringify(meta), {
    headers: h,
  });
  return digest.toString("hex");
}

/**
 * The coordinator's side: the upload `name` of job `jobId`, checked against the SHA-256 its result
 * reported, sealed into `chains` under the job id; the upload is then deleted. Throws ChainsRejected
 * when the upload is missing or its bytes are not the ones reported (nothing is sealed then).
 */
export async function sealChains(
  uploads: ObjectStore,
  chains: ObjectStore,
  jobId: string,
  name: string,
  sha256: string,
): Promise<Chains> {
  const info = await uploads.info(name);
  if (!info || info.deleted) {
    // Sealed already (a coordinator killed after sealing, before storing, reads the result again).
    const sealed = await chains.info(jobId);
    if (
      sealed &&
      !sealed.deleted &&
      sealed.digest === `SHA-256=${Base64UrlPaddedCodec.encode(Buffer.from(sha256, "hex"))}`
    )
      return (await getChains(chains, jobId))!;
    throw new ChainsRejected(`the upload ${name} of job ${jobId} is missing`);
  }
  const bytes = await uploads.getBlob(name);
  if (!bytes) throw new ChainsRejected(`the upload ${name} of job ${jobId} is missing`);
  const actual = sha256Hex(bytes);
  if (actual !== sha256)
    throw new ChainsRejected(
      `the upload ${name} of job ${jobId} has SHA-256 ${actual.slice(0, 12)}…, its result reported ${sha256.slice(0, 12)}…`,
    );
  const sealed = decodeChains(`upload ${name}`, info.metadata?.shape, bytes);
  await putChains(chains, jobId, sealed);
  await uploads.delete(name);
  return sealed;
}
