/**
 * A worker's announcements: its WorkerInfo on its NATS user's heartbeat subject, every `everyMs`,
 * with the steps per second its jobs advanced since the previous one (recent enough to follow a job,
 * smoothed over the executor threads' progress bursts; 0 when idle).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { WorkerInfo } from "@unlearn/protocol";

export class Heartbeat {
  private steps = 0;
  private last = performance.now();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    /** the worker as it is now, given the rate (and whether it is leaving) */
    private readonly describe: (stepsPerSecond: number, stopping: boolean) => WorkerInfo,
    private readonly busy: () => boolean,
    private readonly log: (line: string) => void,
  ) {}

  start(everyMs: number): void {
    this.send();
    this.timer = setInterval(() => this.send(), everyMs);
  }

  /** Steps some job advanced (only forward motion is counted by the caller). */
  stepped(n: number): void {
    this.steps += n;
  }

  private takeRate(): number {
    const now = performance.now();
    const seconds = (now - this.last) / 1000;
    const rate = this.busy() && seconds > 0 ? this.steps / seconds : 0;
    this.steps = 0;
    this.last = now;
    return rate;
  }

  send(stopping = false): void {
    try {
      this.nc.publish(this.subject, WorkerInfo.encode(this.describe(this.takeRate(), stopping)).finish());
    } catch (error) {
      this.log(`heartbeat not sent: ${(error as Error).message}`);
    }
  }

  /** The last one says it is leaving. */
  stop(): void {
    clearInterval(this.timer);
    this.send(true);
  }
}
