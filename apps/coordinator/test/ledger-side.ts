/**
 * The coordinator's side of a dispatch, as the lifecycle and NATS-permission tests drive it:
 * @unlearn/cluster's provision and DispatchLedger, and a results reader doing what the coordinator's
 * intake does with a result (accepted only with its dispatch's nonce, chains sealed, dispatch settled),
 * keeping what it accepted and what it refused in memory for the test to read.
 */

import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type Chains,
  COORDINATOR_CONSUMER,
  DispatchLedger,
  decodeResult,
  jobSubject,
  RESULTS_STREAM,
  resultProof,
} from "@unlearn/cluster";
import { Job, type JobResult } from "@unlearn/protocol";

export class LedgerSide {
  readonly stored = new Map<string, { result: JobResult; chains?: Chains }>();
  readonly refused: string[] = [];
  private reader?: ConsumerMessages;

  private constructor(
    readonly nc: NatsConnection,
    readonly ledger: DispatchLedger,
    /** what the ledger logged */
    readonly log: string[],
  ) {}

  static async start(nc: NatsConnection): Promise<LedgerSide> {
    const log: string[] = [];
    const side = new LedgerSide(nc, await DispatchLedger.open(nc, (line) => log.push(line)), log);
    const consumer = await jetstream(nc).consumers.get(RESULTS_STREAM, COORDINATOR_CONSUMER);
    side.reader = await consumer.consume({ max_messages: 16 });
    void (async () => {
      for await (const msg of side.reader!) await side.onResult(msg);
    })();
    void side.ledger.serveHandBacks();
    return side;
  }

  dispatch(job: Job, engine = job.engine) {
    const sent = { ...job, engine };
    return this.ledger.dispatch(sent, jobSubject(engine, job.sweepId), Job.encode(sent).finish());
  }

  /** Job fusion: the jobs as one JobBatch message, each with its own dispatch. */
  dispatchBatch(jobs: Job[], engine = jobs[0]!.engine) {
    const sent = jobs.map((job) => ({ ...job, engine }));
    return this.ledger.dispatchBatch(sent, jobSubject(engine, jobs[0]!.sweepId));
  }

  private async onResult(msg: JsMsg): Promise<void> {
    const result = decodeResult(msg.subject, msg.data);
    const proof = resultProof(result.jobId, msg.headers);
    if (!(await this.ledger.accepts(proof))) {
      this.refused.push(`${result.jobId}: ${proof.nonce ? "wrong nonce" : "no nonce"}`);
      return msg.term();
    }
    try {
      const chains = result.ok ? await this.ledger.takeChains(proof, 5000) : undefined;
      this.stored.set(result.jobId, { result, chains });
      await this.ledger.settle(result.jobId);
      msg.ack();
    } catch (error) {
      this.refused.push(`${result.jobId}: ${(error as Error).message}`);
      msg.term();
    }
  }

  async stop(): Promise<void> {
    await this.ledger.close();
    await this.reader?.close();
  }
}
