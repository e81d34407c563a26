/**
 * A cluster worker: binds to its engine's durable JetStream consumer (the coordinator provisions it; a
 * worker creates nothing), pulls a job when a slot is free, runs it with the sweep package's
 * executeJob on a worker thread of that slot (so the main thread stays free for NATS), uploads the
 * final chains under its dispatch's upload name and publishes the result with the dispatch's nonce.
 * It never touches the database.
 *
 * A job's life on a worker:
 *   - liveness follows progress: the in-progress ack goes out only while steps advance; a job whose
 *     steps stop for stallMs is handed back (nak: a delivery it used) and its slot's thread replaced,
 *     so a hung engine cannot hold its job;
 *   - a cancel from the coordinator (unlearn.cancel.<job id>) stops it between steps (terminated:
 *     nobody wants it);
 *   - SIGTERM lets running jobs finish within the grace, then hands the rest back through the
 *     coordinator (UNLEARN_HANDBACKS), which queues them again without using up a delivery;
 *   - a job that fails is naked and retried until its last delivery, where its failed result is
 *     published; one whose deliveries were used up before this message is given up at once.
 * The job is acked only after its chains and result are in NATS; a worker killed before that leaves it
 * unacked and JetStream redelivers it after ack_wait. Object-store calls are retried with backoff.
 */
import { availableParallelism, hostname } from "node:os";
import { type Consumer, type JetStreamClient, type JsMsg, jetstream } from "@nats-io/jetstream";
import type { ObjectStore } from "@nats-io/obj";
import { headers, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  bind,
  CANCEL_ALL,
  CHAINS_BUCKET,
  DELIVERIES_HEADER,
  decodeJob,
  dispatchOf,
  getChains,
  handbackSubject,
  type JobLimits,
  NONCE_HEADER,
  progressSubject,
  resultHeaders,
  resultSubject,
  SEQ_HEADER,
  uploadChains,
  uploadName,
  withRetry,
  workerId,
  workerSubject,
} from "@unlearn/cluster";
import { type Job, JobProgress, JobResult, type WorkerInfo } from "@unlearn/protocol";
import { type DispatchOutput, failedResult, WorkerPool } from "@unlearn/sweep";
import { Heartbeat } from "./heartbeat.ts";

export interface WorkerOptions {
  /** its NATS user (NATS_USER): its heartbeats' subject and the start of its id */
  user?: string;
  engine: string;
  device: string;
  /** jobs at once (one worker thread each) */
  concurrency: number;
  /** engine threads per job (default: cores / concurrency) */
  threads?: number;
  heartbeatMs?: number;
  /** how long SIGTERM waits for running jobs before it hands them back */
  stopGraceMs?: number;
  /** how long a job's steps may stand still before it is handed back (ms) */
  stallMs?: number;
  /** how long object-store calls are retried before the job is handed back (ms) */
  storeRetryMs?: number;
  log?(line: string): void;
}

/** Why a run was abandoned before its end. */
type Abandon = "cancelled" | "stalled" | "handed back";

interface Running {
  msg: JsMsg;
  job: Job;
  nonce: string;
  /** deliveries of this job so far, this one included (earlier messages of its dispatch too) */
  delivery: number;
  slot: Slot;
  /** resolves when the run is abandoned (its executor promise may never settle: a hung engine) */
  abandoned: Promise<Abandon>;
  abandon(why: Abandon): void;
  why?: Abandon;
  /** when its steps last advanced, and how far (performance.now() ms, steps) */
  lastAdvance: number;
  /** its run ended: what is left (upload, publication) is bounded by the store retries, not by steps */
  reporting?: boolean;
  stepsDone: number;
  lastProgress: number;
}

/** A slot runs one job at a time on a pool of one thread, replaced when a run is abandoned. */
interface Slot {
  pool: WorkerPool;
}

const PROGRESS_MS = 500;

export class ClusterWorker {
  readonly id: string;
  private readonly js: JetStreamClient;
  private readonly running = new Map<string, Running>();
  private readonly slots: Slot[] = [];
  private readonly startedAt = Date.now();
  private readonly threads: number;
  private consumer!: Consumer;
  private chains!: ObjectStore;
  private limits!: JobLimits;
  private cancels?: Subscription;
  private stopping = false;
  private heartbeat!: Heartbeat;
  private loops: Promise<void>[] = [];
  private readonly log: (line: string) => void;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: WorkerOptions,
  ) {
    this.id = workerId(options.user, hostname(), process.pid, options.engine);
    this.js = jetstream(nc);
    this.log = options.log ?? ((line) => console.error(`[worker ${this.id}] ${line}`));
    this.threads = options.threads ?? Math.max(1, Math.floor(availableParallelism() / options.concurrency));
  }

  async start(): Promise<void> {
    const binding = await bind(this.nc, this.options.engine, this.log);
    this.consumer = binding.consumer;
    this.chains = binding.chains;
    this.limits = binding.limits;
    this.cancels = this.nc.subscribe(CANCEL_ALL, {
      callback: (_error, msg) => this.cancel(msg.subject.split(".").pop() ?? ""),
    });
    this.heartbeat = new Heartbeat(
      this.nc,
      workerSubject(this.options.user),
      (rate, stopping) => this.info(stopping, rate),
      () => this.running.size > 0,
      this.log,
    );
    this.heartbeat.start(this.options.heartbeatMs ?? 2000);
    for (let i = 0; i < this.options.concurrency; i++) {
      const slot = { pool: this.newPool() };
      this.slots.push(slot);
      this.loops.push(this.loop(slot));
    }
    this.log(
      `started: engine ${this.options.engine}, device ${this.options.device}, ${this.options.concurrency} job(s) at once × ${this.threads} thread(s); ack wait ${this.limits.ackWaitMs} ms, ${this.limits.maxDeliver} deliveries`,
    );
  }

  private newPool(): WorkerPool {
    return new WorkerPool({
      workers: 1,
      threads: this.threads,
      name: this.id,
      onProgress: (p) => this.progress(p),
    });
  }

  /** What it announces; `stepsPerSecond` is the rate since the last heartbeat (heartbeat.ts). */
  info(stopping = false, stepsPerSecond = 0): WorkerInfo {
    return {
      id: this.id,
      host: hostname(),
      engine: this.options.engine,
      device: this.options.device,
      cores: availableParallelism(),
      concurrency: this.options.concurrency,
      threads: this.threads,
      running: this.running.size,
      currentJobs: [...this.running.keys()],
      stepsPerSecond,
      pid: process.pid,
      startedAtMs: this.startedAt,
      lastSeenMs: 0,
      stopping,
    };
  }

  /** One slot: pulls a job when it is free, so a worker never holds jobs it is not running. */
  private async loop(slot: Slot): Promise<void> {
    while (!this.stopping) {
      let msg: JsMsg | null;
      try {
        msg = await this.consumer.next({ expires: 2000 });
      } catch (error) {
        // NATS restarting, consumer briefly gone: wait and pull again.
        if (!this.stopping) this.log(`pull failed, retrying: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (msg) await this.handle(msg, slot);
    }
  }

  /** The job and dispatch a message carries, or null when it is none (terminated, with the reason logged). */
  private admit(msg: JsMsg): { job: Job; nonce: string; delivery: number } | null {
    try {
      const job = decodeJob(msg.subject, msg.data);
      if (job.engine !== this.options.engine)
        throw new Error(
          `${msg.subject}: field engine is "${job.engine}", this worker runs "${this.options.engine}"`,
        );
      const dispatch = dispatchOf(msg.headers);
      if (!dispatch) throw new Error(`${msg.subject}: header ${NONCE_HEADER} is missing or malformed`);
      return { job, nonce: dispatch.nonce, delivery: dispatch.priorDeliveries + msg.info.deliveryCount };
    } catch (error) {
      this.log(`rejected a malformed job message: ${(error as Error).message}`);
      msg.term((error as Error).message.slice(0, 200));
      return null;
    }
  }

  private async handle(msg: JsMsg, slot: Slot): Promise<void> {
    const admitted = this.admit(msg);
    if (!admitted) return;
    const { job, nonce, delivery } = admitted;
    let abandon!: (why: Abandon) => void;
    const abandoned = new Promise<Abandon>((resolve) => {
      abandon = resolve;
    });
    const now = performance.now();
    const entry: Running = {
      msg,
      job,
      nonce,
      delivery,
      slot,
      abandoned,
      abandon: (why) => {
        if (entry.why) return;
        entry.why = why;
        abandon(why);
      },
      lastAdvance: now,
      stepsDone: 0,
      lastProgress: 0,
    };
    if (this.stopping) return void (await this.handBack(entry));
    this.running.set(job.id, entry);
    const liveness = setInterval(() => this.keepAlive(entry), Math.max(250, this.limits.ackWaitMs / 3));
    try {
      const out =
        this.limits.maxDeliver > 0 && delivery > this.limits.maxDeliver
          ? this.givenUp(job, delivery)
          : await Promise.race([
              this.execute({ ...job, attempt: delivery - 1, device: this.options.device }),
              abandoned,
            ]);
      if (typeof out === "string") return await this.afterAbandon(entry, out);
      entry.reporting = true;
      await this.report(entry, out);
    } catch (error) {
      // NATS or the object store away for longer than the retries: let it come back.
      this.log(`job ${job.id.slice(0, 12)}: ${(error as Error).message}; it will be redelivered`);
      try {
        msg.nak(1000);
      } catch {
        // the connection is gone: ack_wait brings the job back
      }
    } finally {
      clearInterval(liveness);
      this.running.delete(job.id);
    }
  }

  /** The in-progress ack, sent only while steps advance; a job standing still too long is handed back. */
  private keepAlive(entry: Running): void {
    const still = performance.now() - entry.lastAdvance;
    const stallMs = this.options.stallMs ?? 300_000;
    if (still < stallMs || entry.reporting) {
      entry.msg.working();
      return;
    }
    this.log(
      `job ${entry.job.id.slice(0, 12)}: no step for ${Math.round(still)} ms (limit ${stallMs} ms): handed back`,
    );
    entry.abandon("stalled");
  }

  private async afterAbandon(entry: Running, why: Abandon): Promise<void> {
    // Its thread may be stuck in the engine: the slot gets a fresh one, the old one is stopped aside
    // (asked to abort between steps, terminated if it does not).
    if (!this.stopping) {
      const old = entry.slot.pool;
      entry.slot.pool = this.newPool();
      void old.close();
    }
    try {
      if (why === "stalled") entry.msg.nak();
      if (why === "cancelled") entry.msg.term("withdrawn by the coordinator");
    } catch {
      // the connection is gone: ack_wait brings the job back
    }
  }

  /** A job whose earlier messages used up its deliveries (then handed back): given up here. */
  private givenUp(job: Job, delivery: number): DispatchOutput {
    const error = `delivered ${delivery - 1} times without an answer (its worker died or went silent each time)`;
    return { result: failedResult(job, error, this.id) };
  }

  /** Runs one job (protected: the fault tests substitute jobs that fail, crash or hang). */
  protected async execute(job: Job): Promise<DispatchOutput> {
    const parentId = job.spec!.parentId;
    let parent: Float32Array | undefined;
    if (parentId) {
      const chains = await withRetry(
        `reading the chains of parent ${parentId.slice(0, 12)}`,
        () => getChains(this.chains, parentId),
        {
          forMs: this.options.storeRetryMs,
          log: this.log,
        },
      );
      if (!chains)
        return {
          result: failedResult(
            job,
            `the chains of parent ${parentId} are not in the object store ${CHAINS_BUCKET}`,
            this.id,
          ),
        };
      parent = chains.W;
    }
    const out = await this.slotOf(job).pool.run(job, parent);
    out.result.worker = this.id;
    return out;
  }

  private slotOf(job: Job): Slot {
    return this.running.get(job.id)?.slot ?? this.slots[0]!;
  }

  private async report(entry: Running, out: DispatchOutput): Promise<void> {
    const { msg, job, nonce, delivery } = entry;
    const { result, artifact } = out;
    const last = this.limits.maxDeliver > 0 && delivery >= this.limits.maxDeliver;
    if (!result.ok && !last) {
      this.log(
        `job ${job.id.slice(0, 12)} failed on delivery ${delivery}: ${result.error}; it will be retried`,
      );
      msg.nak(Math.min(5000, 250 * 2 ** delivery));
      return;
    }
    const retry = { forMs: this.options.storeRetryMs, log: this.log };
    let sha: string | undefined;
    if (result.ok && artifact) {
      const name = uploadName(job.id, nonce);
      sha = await withRetry(
        `uploading the chains of ${job.id.slice(0, 12)}`,
        () => uploadChains(this.nc, name, artifact),
        retry,
      );
    }
    // Handed back (SIGTERM's grace ran out during the upload) or withdrawn meanwhile: nothing to report.
    if (entry.why) {
      if (entry.why === "cancelled") msg.term("withdrawn by the coordinator");
      return;
    }
    if (!result.ok && !/deliveries\)$|without an answer/.test(result.error))
      result.error = `${result.error} (failed on each of ${delivery} deliveries)`;
    const bytes = JobResult.encode(result).finish();
    await withRetry(
      `publishing the result of ${job.id.slice(0, 12)}`,
      () => this.js.publish(resultSubject(job.id), bytes, { headers: resultHeaders(nonce, sha) }),
      retry,
    );
    await msg.ackAck();
    this.log(
      `job ${job.id} ${result.ok ? "done" : "failed"} in ${Math.round(result.wallMs)} ms (delivery ${delivery})`,
    );
  }

  private progress(p: JobProgress): void {
    const entry = this.running.get(p.jobId);
    if (!entry || entry.why) return;
    // Counted before the publish throttle, so the heartbeat's rate sees every step. A retried job starts
    // again from 0: only forward motion counts, for the rate and for liveness.
    if (p.stepsDone > entry.stepsDone) {
      this.heartbeat.stepped(p.stepsDone - entry.stepsDone);
      entry.lastAdvance = performance.now();
    }
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

  /** The coordinator withdrew a job: if it runs here, it stops between steps. */
  private cancel(jobId: string): void {
    const entry = this.running.get(jobId);
    if (!entry) return;
    this.log(`job ${jobId.slice(0, 12)} withdrawn by the coordinator: stopped`);
    entry.abandon("cancelled");
  }

  /**
   * Gives a job back without using up a delivery: the coordinator queues it again as a new message
   * (hand-backs stream), then this one is terminated. If the hand-back cannot be published, a nak
   * (which counts) is the fallback.
   */
  private async handBack(entry: Running): Promise<void> {
    const h = headers();
    h.set(NONCE_HEADER, entry.nonce);
    h.set(SEQ_HEADER, String(entry.msg.seq));
    h.set(DELIVERIES_HEADER, String(entry.delivery - 1));
    try {
      await this.js.publish(handbackSubject(entry.job.id), new Uint8Array(0), { headers: h, timeout: 5000 });
      entry.msg.term("handed back");
      this.log(`job ${entry.job.id.slice(0, 12)} handed back (delivery ${entry.delivery} not counted)`);
    } catch (error) {
      this.log(
        `job ${entry.job.id.slice(0, 12)}: hand-back failed (${(error as Error).message}); naked instead`,
      );
      try {
        entry.msg.nak();
      } catch {
        // gone with the connection: ack_wait brings it back
      }
    }
  }

  /** SIGTERM: stop pulling, let running jobs finish within the grace, hand the rest back, leave. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const grace = this.options.stopGraceMs ?? 30_000;
    const deadline = Date.now() + grace;
    while (this.running.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const left = [...this.running.values()];
    for (const entry of left) {
      this.log(`job ${entry.job.id.slice(0, 12)} not finished within ${grace} ms`);
      // First, so that its run, should it end now, reports nothing: the job goes back whole.
      entry.abandon("handed back");
    }
    await Promise.all(left.map((entry) => this.handBack(entry)));
    this.cancels?.unsubscribe();
    this.heartbeat.stop();
    await Promise.all(this.slots.map((slot) => slot.pool.close()));
    await Promise.allSettled(this.loops);
  }
}
