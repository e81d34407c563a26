/**
 * Dispatches and their proof. Each time the coordinator queues a job it gives the dispatch a random
 * nonce, carried in the job message's headers; only a worker that pulled the message knows it. A
 * result counts only when it carries the nonce of its job's dispatch in flight (acceptsResult), and a
 * worker uploads its chains under a name derived from the nonce (uploadName), which tells nothing of
 * the nonce itself. Hand-backs carry it too.
 *
 * Headers (NATS message headers, so the protobuf messages stay as they are):
 *   job message   Unlearn-Nonce, Unlearn-Prior-Deliveries (deliveries used before this message:
 *                 a handed-back job is queued again as a new message that keeps its count)
 *   batch message (a JobBatch: fused jobs as one message) Unlearn-Batch (its number of jobs),
 *                 Unlearn-Nonce (each job's own nonce, comma-separated, in the batch's order),
 *                 Unlearn-Prior-Deliveries
 *   result        Unlearn-Nonce, and for an ok result Unlearn-Chains-Sha256 (hex)
 *   hand-back     Unlearn-Nonce, Unlearn-Seq (the job message's stream sequence), Unlearn-Deliveries
 */
import { createHash, randomBytes } from "node:crypto";
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";

export const NONCE_HEADER = "Unlearn-Nonce";
export const PRIOR_DELIVERIES_HEADER = "Unlearn-Prior-Deliveries";
export const CHAINS_SHA256_HEADER = "Unlearn-Chains-Sha256";
export const SEQ_HEADER = "Unlearn-Seq";
export const DELIVERIES_HEADER = "Unlearn-Deliveries";
/** On a job message that is a JobBatch: how many jobs it holds (absent on a single Job). */
export const BATCH_HEADER = "Unlearn-Batch";

const NONCE = /^[0-9a-f]{32}$/;
const SHA256 = /^[0-9a-f]{64}$/;

export function newNonce(): string {
  return randomBytes(16).toString("hex");
}

/** The upload name of a dispatch's chains: the job id and a one-way tag of the nonce. */
export function uploadName(jobId: string, nonce: string): string {
  const tag = createHash("sha256").update(`unlearn-upload\0${nonce}`).digest("hex").slice(0, 32);
  return `${jobId}.${tag}`;
}

/** What the coordinator knows of a job in flight: its current dispatch. */
export interface Inflight {
  jobId: string;
  nonce: string;
}

/** What a result message proves: its job id (from the result) and the nonce of its headers. */
export interface ResultProof {
  jobId: string;
  nonce?: string;
  /** SHA-256 (hex) of the uploaded chains, for an ok result */
  chainsSha256?: string;
}

/**
 * Whether a result counts: its job is in flight and it carries that dispatch's nonce. A result with no
 * nonce, another dispatch's nonce, or for a job not in flight (never dispatched, already settled) does
 * not; the intake terminates it unstored.
 */
export function acceptsResult(inflight: Inflight | null | undefined, proof: ResultProof): boolean {
  return (
    inflight != null &&
    inflight.jobId === proof.jobId &&
    typeof proof.nonce === "string" &&
    NONCE.test(proof.nonce) &&
    proof.nonce === inflight.nonce
  );
}

/** The proof a result message carries in its headers (absent fields are undefined, never guessed). */
export function resultProof(jobId: string, h: MsgHdrs | undefined): ResultProof {
  const nonce = h?.get(NONCE_HEADER) || undefined;
  const sha = h?.get(CHAINS_SHA256_HEADER) || undefined;
  return { jobId, nonce, chainsSha256: sha && SHA256.test(sha) ? sha : undefined };
}

/** A worker's result headers. */
export function resultHeaders(nonce: string, chainsSha256?: string): MsgHdrs {
  const h = natsHeaders();
  h.set(NONCE_HEADER, nonce);
  if (chainsSha256) h.set(CHAINS_SHA256_HEADER, chainsSha256);
  return h;
}

/** What a worker reads from a job message's headers; a message without a valid nonce is no dispatch. */
export function dispatchOf(h: MsgHdrs | undefined): { nonce: string; priorDeliveries: number } | null {
  const nonce = h?.get(NONCE_HEADER) ?? "";
  if (!NONCE.test(nonce)) return null;
  const prior = Number(h?.get(PRIOR_DELIVERIES_HEADER) || "0");
  return { nonce, priorDeliveries: Number.isInteger(prior) && prior >= 0 ? prior : 0 };
}

/** Whether a job message is a JobBatch (it names its size in BATCH_HEADER). */
export function isBatch(h: MsgHdrs | undefined): boolean {
  return !!h?.get(BATCH_HEADER);
}

/**
 * What a worker reads from a JobBatch message's headers: one nonce per job, in the batch's order; null
 * when the header does not hold exactly `jobs` valid nonces (no dispatch).
 */
export function batchDispatchOf(
  h: MsgHdrs | undefined,
  jobs: number,
): { nonces: string[]; priorDeliveries: number } | null {
  const nonces = (h?.get(NONCE_HEADER) ?? "").split(",");
  if (nonces.length !== jobs || Number(h?.get(BATCH_HEADER)) !== jobs || !nonces.every((n) => NONCE.test(n)))
    return null;
  if (new Set(nonces).size !== nonces.length) return null;
  const prior = Number(h?.get(PRIOR_DELIVERIES_HEADER) || "0");
  return { nonces, priorDeliveries: Number.isInteger(prior) && prior >= 0 ? prior : 0 };
}
