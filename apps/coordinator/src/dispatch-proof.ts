/**
 * The results intake's dispatch check (intake.ts's ResultCheck): a result counts only when it carries
 * the nonce of its job's dispatch in flight (the ledger's, @unlearn/cluster), and an ok result only
 * once its chains, uploaded by its worker under the dispatch's upload name, proved to be the bytes it
 * reported and were sealed under the job id (where the intake then reads them).
 */
import type { JsMsg } from "@nats-io/jetstream";
import { ChainsRejected, type DispatchLedger, decodeResult, resultProof } from "@unlearn/cluster";
import type { Store } from "@unlearn/db";
import type { ResultCheck } from "./intake.ts";

export function dispatchCheck(ledger: DispatchLedger, store: Store): ResultCheck {
  return async (result, msg, inFlight) => {
    const proof = resultProof(result.jobId, msg.headers);
    if (!(await ledger.accepts(proof))) {
      // A second answer of a dispatch whose first is stored (its worker died between publishing and
      // acking, and the job ran again): the intake absorbs it as a duplicate when no sweep waits.
      if (!inFlight && (await store.doneJobIds([result.jobId])).has(result.jobId)) return undefined;
      return proof.nonce
        ? "its nonce is not the one of its job's dispatch in flight (stale or forged)"
        : "it carries no dispatch nonce";
    }
    // Chains are sealed for a well-formed ok result only (a malformed one, checked so that its job can
    // fail, has nothing worth sealing).
    if (!result.ok || !wellFormed(msg)) return undefined;
    try {
      await ledger.takeChains(proof);
      return undefined;
    } catch (error) {
      // Transient object-store errors were retried in takeChains; what is left leaves the result unacked.
      if (!(error instanceof ChainsRejected)) throw error;
      await ledger.requeue(result.jobId);
      return `${error.message}; the job is queued again`;
    }
  };
}

function wellFormed(msg: JsMsg): boolean {
  try {
    decodeResult(msg.subject, msg.data);
    return true;
  } catch {
    return false;
  }
}
