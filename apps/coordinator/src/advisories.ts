/**
 * JetStream's max-deliveries advisories for the jobs stream: a job whose every delivery ended without
 * an answer (its worker died or went silent each time) is given up by JetStream, and so by its
 * sweeps. Read from a stream through the coordinator's durable consumer, so a job given up while the
 * coordinator was down fails after its restart; stored failed, then acked, like a result (intake.ts).
 * A JobBatch message given up fails each of its jobs (each may then be run again alone).
 */
import type { JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { decodeJobs, isBatch, JOBS_STREAM } from "@unlearn/cluster";
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
    let jobs: ReturnType<typeof decodeJobs>;
    try {
      jobs = decodeJobs(stored.subject, stored.data, isBatch(stored.header));
    } catch (error) {
      this.log(
        `rejected a max-deliveries advisory: its job message is malformed: ${(error as Error).message}`,
      );
      msg.term();
      return;
    }
    const known = [];
    for (const job of jobs)
      if (await this.intake.isKnown(job.id).catch(() => true)) known.push(job);
      else
        this.log(
          `max-deliveries advisory for job ${job.id.slice(0, 12)} dropped: no sweep planned such a job`,
        );
    if (known.length === 0) return void msg.term();
    const error = `delivered ${deliveries ?? "the maximum number of"} times without an answer (its worker died or went silent each time)`;
    for (const [i, job] of known.entries()) {
      this.log(`job ${job.id.slice(0, 12)} given up: ${error}`);
      const last = i === known.length - 1;
      // Each job is stored failed on its own; the advisory is acked with the last one.
      await this.intake.deliver(last ? msg : noAck(msg), job.id, async () => {
        if (last) await this.jsm.streams.deleteMessage(JOBS_STREAM, seq).catch(() => false);
        return { result: failedResult(job, error) };
      });
    }
  }
}

/** The advisory for all but the last job of a batch: its ack waits for the last one. */
function noAck(msg: JsMsg): JsMsg {
  return new Proxy(msg, {
    get(target, prop, receiver) {
      if (prop === "ack" || prop === "nak" || prop === "term") return () => {};
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
