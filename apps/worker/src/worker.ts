/**
 * A cluster worker: pulls jobs from its engine's durable JetStream consumer, runs each with the sweep
 * package's executeJob on a worker thread (the same WorkerPool the embedded mode uses, so the main
 * thread stays free for NATS: in-progress acks and heartbeats keep flowing during a long job), puts the
 * final chains into the object store and publishes the result. It never touches the database.
 *
 * Delivery: a job is acked only after its chains and result are stored in NATS; a worker killed before
 * that leaves the job unacked and JetStream redelivers it after ack_wait. A job that fails is naked and
 * retried until its last allowed delivery, where its failed result is published instead.
 */
import { availableParallelism, hostname } from "node:os";
import { type JetStreamClient, type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type ObjectStore, Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  CHAINS_BUCKET,
  decodeJob,
  ensureStreams,
  ensureWorkerConsumer,
  getChains,
  JOBS_STREAM,
  type JobLimits,
  progressSubject,
  putChains,
  resultSubject,
  WORKERS_SUBJECT,
  workerConsumer,
} from "@unlearn/cluster";
import { type Job, JobProgress, JobResult, WorkerInfo } from "@unlearn/protocol";
import { type DispatchOutput, WorkerPool } from "@unlearn/sweep";

export interface WorkerOptions {
  engine: string;
  device: string;
  /** jobs at once (worker threads) */
  concurrency: number;
  /** engine threads per job (default: cores / concurrency) */
  threads?: number;
  limits: JobLimits;
  heartbeatMs?: number;
  /** how long SIGTERM waits for running jobs before it naks them */
  stopGraceMs?: number;
  log?(line: string): void;
}

interface Running {
  msg: JsMsg;
  job: Job;
  abandoned: boolean;
  lastProgress: number;
  /** steps done as its executor thread last reported them */
  stepsDone: number;
}

const PROGRESS_MS = 500;

export class ClusterWorker {
  readonly id: string;
  private readonly js: JetStreamClient;
  private readonly pool: WorkerPool;
  private readonly running = new Map<string, Running>();
  private readonly startedAt = Date.now();
  private objects!: ObjectStore;
  private stopping = false;
  private heartbeat?: NodeJS.Timeout;
  private loops: Promise<void>[] = [];
  /** steps its jobs advanced since the last heartbeat, and when that heartbeat was (for steps_per_second) */
  private stepsSinceBeat = 0;
  private lastBeat = performance.now();
  private readonly log: (line: string) => void;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: WorkerOptions,
  ) {
    this.id = `${hostname()}:${process.pid}:${options.engine}`;
    this.js = jetstream(nc);
    this.log = options.log ?? ((line) => console.error(`[worker ${this.id}] ${line}`));
    const cores = availableParallelism();
    this.pool = new WorkerPool({
      workers: options.concurrency,
      threads: options.threads ?? Math.max(1, Math.floor(cores / options.concurrency)),
      name: this.id,
      onProgress: (p) => this.progress(p),
    });
  }

  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    await ensureStreams(jsm);
    await ensureWorkerConsumer(jsm, this.options.engine, this.options.limits);
    this.objects = await new Objm(this.nc).create(CHAINS_BUCKET);
    this.announce();
    this.heartbeat = setInterval(() => this.announce(), this.options.heartbeatMs ?? 2000);
    for (let i = 0; i < this.options.concurrency; i++) this.loops.push(this.loop());
    this.log(
      `started: engine ${this.options.engine}, device ${this.options.device}, ${this.options.concurrency} job(s) at once × ${this.pool.threads} thread(s)`,
    );
  }

  /** What it announces; `stepsPerSecond` is the rate since the last heartbeat (see takeRate). */
  info(stopping = false, stepsPerSecond = 0): WorkerInfo {
    return {
      id: this.id,
      host: hostname(),
      engine: this.options.engine,
      device: this.options.device,
      cores: availableParallelism(),
      concurrency: this.options.concurrency,
      threads: this.pool.threads,
      running: this.running.size,
      currentJobs: [...this.running.keys()],
      stepsPerSecond,
      pid: process.pid,
      startedAtMs: this.startedAt,
      lastSeenMs: 0,
      stopping,
    };
  }

  /**
   * Steps per second of its running jobs since the previous heartbeat, and starts the next interval:
   * recent enough to follow a job, and smoothed over the executor threads' progress bursts. 0 when idle.
   */
  private takeRate(): number {
    const now = performance.now();
    const seconds = (now - this.lastBeat) / 1000;
    const rate = this.running.size > 0 && seconds > 0 ? this.stepsSinceBeat / seconds : 0;
    this.stepsSinceBeat = 0;
    this.lastBeat = now;
    return rate;
  }

  private announce(stopping = false): void {
    try {
      this.nc.publish(WORKERS_SUBJECT, WorkerInfo.encode(this.info(stopping, this.takeRate())).finish());
    } catch (error) {
      this.log(`heartbeat not sent: ${(error as Error).message}`);
    }
  }

  /** One slot: pulls a job when it is free, so a worker never holds jobs it is not running. */
  private async loop(): Promise<void> {
    const consumer = await this.js.consumers.get(JOBS_STREAM, workerConsumer(this.options.engine));
    while (!this.stopping) {
      let msg: JsMsg | null;
      try {
        msg = await consumer.next({ expires: 2000 });
      } catch (error) {
        // NATS restarting, consumer briefly gone: wait and pull again.
        if (!this.stopping) this.log(`pull failed, retrying: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (msg && this.stopping) {
        // Pulled while stopping began: hand it straight back.
        msg.nak();
        break;
      }
      if (msg) await this.handle(msg);
    }
  }

  private async handle(msg: JsMsg): Promise<void> {
    let job: Job;
    try {
      job = decodeJob(msg.subject, msg.data);
      if (job.engine !== this.options.engine)
        throw new Error(
          `${msg.subject}: field engine is "${job.engine}", this worker runs "${this.options.engine}"`,
        );
    } catch (error) {
      this.log(`rejected a malformed job message: ${(error as Error).message}`);
      msg.term((error as Error).message.slice(0, 200));
      return;
    }
    const delivery = msg.info.deliveryCount;
    const entry: Running = { msg, job, abandoned: false, lastProgress: 0, stepsDone: 0 };
    this.running.set(job.id, entry);
    const working = setInterval(() => msg.working(), Math.max(500, this.options.limits.ackWaitMs / 3));
    try {
      const out = await this.execute({ ...job, attempt: delivery - 1 });
      if (entry.abandoned) return;
      await this.report(msg, job, out, delivery);
    } catch (error) {
      // A transport failure (NATS down while storing the chains or the result): let it come back.
      this.log(`job ${job.id.slice(0, 12)}: ${(error as Error).message}; it will be redelivered`);
      try {
        msg.nak(1000);
      } catch {
        // the connection is gone: ack_wait brings the job back
      }
    } finally {
      clearInterval(working);
      this.running.delete(job.id);
    }
  }

  /** Runs one job (protected: the fault tests substitute a job that fails every time). */
  protected async execute(job: Job): Promise<DispatchOutput> {
    const parentId = job.spec!.parentId;
    let parent: Float32Array | undefined;
    if (parentId) {
      const chains = await getChains(this.objects, parentId);
      if (!chains)
        return {
          result: {
            ...JobResult.fromPartial({ jobId: job.id, engine: job.engine, worker: this.id }),
            error: `the chains of parent ${parentId} are not in the object store ${CHAINS_BUCKET}`,
          },
        };
      parent = chains.W;
    }
    const out = await this.pool.run(job, parent);
    out.result.worker = this.id;
    return out;
  }

  private async report(msg: JsMsg, job: Job, out: DispatchOutput, delivery: number): Promise<void> {
    const { result, artifact } = out;
    const last = delivery >= this.options.limits.maxDeliver;
    if (!result.ok && !last) {
      this.log(
        `job ${job.id.slice(0, 12)} failed on delivery ${delivery}: ${result.error}; it will be retried`,
      );
      msg.nak(Math.min(5000, 250 * 2 ** delivery));
      return;
    }
    if (result.ok && artifact) await putChains(this.objects, job.id, artifact);
    if (!result.ok) result.error = `${result.error} (failed on each of ${delivery} deliveries)`;
    await this.js.publish(resultSubject(job.id), JobResult.encode(result).finish());
    await msg.ackAck();
    this.log(
      `job ${job.id} ${result.ok ? "done" : "failed"} in ${Math.round(result.wallMs)} ms (delivery ${delivery})`,
    );
  }

  private progress(p: JobProgress): void {
    const entry = this.running.get(p.jobId);
    if (!entry) return;
    // Counted before the publish throttle, so the heartbeat's rate sees every step. A retried job starts
    // again from 0: only forward motion counts.
    this.stepsSinceBeat += Math.max(0, p.stepsDone - entry.stepsDone);
    entry.stepsDone = p.stepsDone;
    const now = performance.now();
    if (now - entry.lastProgress < PROGRESS_MS && p.stepsDone < p.stepsTotal) return;
    entry.lastProgress = now;
    try {
      const bytes = JobProgress.encode({ ...p, worker: this.id }).finish();
      this.nc.publish(progressSubject(entry.job.sweepId), bytes);
    } catch {
      // progress is best effort
    }
  }

  /** SIGTERM: stop pulling, let running jobs finish within the grace, nak the rest, leave. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const grace = this.options.stopGraceMs ?? 30_000;
    const deadline = Date.now() + grace;
    while (this.running.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    for (const entry of this.running.values()) {
      entry.abandoned = true;
      this.log(`job ${entry.job.id.slice(0, 12)} not finished within ${grace} ms: handed back`);
      try {
        entry.msg.nak();
      } catch {
        // gone with the connection: ack_wait brings it back
      }
    }
    clearInterval(this.heartbeat);
    this.announce(true);
    await this.pool.close();
    await Promise.allSettled(this.loops);
  }
}
