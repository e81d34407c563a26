/**
 * JetStream's max-deliveries advisories for the jobs stream: a job whose every delivery ended without
 * an answer (its worker died or went silent each time) is given up by JetStream, and so by its
 * sweeps. Read from a stream through the coordinator's durable consumer, so a job given up while the
 * coordinator was down fails after its restart; stored failed, then acked, like a result (intake.ts).
 */
import type { JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { decodeJob, JOBS_STREAM } from "@unlearn/cluster";
import { failedResult } from "@unlearn/sweep";
import type { ResultsIntake } from "./intake.ts";

export class MaxDeliveries {
  constructor(
    private readonly jsm: JetStreamManager,
    private readonly intake: ResultsIntake,
    private readonly log: (line: string) => void,
  ) {}

  async onMessage(msg: JsMsg): Promise<void> {
    let seq: number;
    let deliveries: number | undefined;
    try {
      const advisory = JSON.parse(new TextDecoder().decode(msg.data)) as {
        stream_seq?: number;
        deliveries?: number;
      };
      if (!Number.isInteger(advisory.stream_seq)) throw new Error("field stream_seq is not an integer");
      seq = advisory.stream_seq!;
      deliveries = advisory.deliveries;
    } catch (error) {
      this.log(`rejected a max-deliveries advisory: ${(error as Error).message}`);
      msg.term();
      return;
    }
    const stored = await this.jsm.streams.getMessage(JOBS_STREAM, { seq }).catch(() => null);
    // Gone: withdrawn, or handled by a coordinator killed before it acked this advisory.
    if (!stored) return void msg.ack();
    let job: ReturnType<typeof decodeJob>;
    try {
      job = decodeJob(stored.subject, stored.data);
    } catch (error) {
      this.log(
        `rejected a max-deliveries advisory: its job message is malformed: ${(error as Error).message}`,
      );
      msg.term();
      return;
    }
    if (!(await this.intake.isKnown(job.id).catch(() => true))) {
      this.log(`max-deliveries advisory for job ${job.id.slice(0, 12)} dropped: no sweep planned such a job`);
      return void msg.term();
    }
    const error = `delivered ${deliveries ?? "the maximum number of"} times without an answer (its worker died or went silent each time)`;
    this.log(`job ${job.id.slice(0, 12)} given up: ${error}`);
    await this.intake.deliver(msg, job.id, async () => {
      await this.jsm.streams.deleteMessage(JOBS_STREAM, seq).catch(() => false);
      return { result: failedResult(job, error) };
    });
  }
}
