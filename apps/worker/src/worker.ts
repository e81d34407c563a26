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
 *
 * Job fusion: a message may be a JobBatch (header Unlearn-Batch): its jobs run fused in one column
 * batch (executeJobs), each reporting its own progress; the message lives while any of them steps;
 * each job's chains are uploaded under its own dispatch's name and its result published with its own
 * nonce; the message is acked once all are published. A job of a batch that fails publishes its
 * failed result at once (the scheduler retries it alone, unfused); a job withdrawn from a running
 * batch is not reported, and the batch stops between steps once all its jobs are withdrawn. A
 * hand-back gives each job back alone.
 */
import { availableParallelism, hostname } from "node:os";
import { type Consumer, type JetStreamClient, type JsMsg, jetstream } from "@nats-io/jetstream";
import type { ObjectStore } from "@nats-io/obj";
import { headers, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  batchDispatchOf,
  bind,
  CANCEL_ALL,
  CHAINS_BUCKET,
  DELIVERIES_HEADER,
  decodeJobs,
  dispatchOf,
  getChains,
  handbackSubject,
  isBatch,
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
import { batchColumns as coreBatchColumns } from "@unlearn/core";
import { type Job, JobProgress, JobResult, type WorkerInfo } from "@unlearn/protocol";
import { type DispatchOutput, executeJobs, failedResult, WorkerPool } from "@unlearn/sweep";
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
  /** job fusion: the widest column batch it runs, advertised in its heartbeats (default: core's for its engine) */
  batchColumns?: number;
  log?(line: string): void;
}

/** Why a run was abandoned before its end. */
type Abandon = "cancelled" | "stalled" | "handed back";

interface Running {
  msg: JsMsg;
  /** its first job (the only one unless the message is a JobBatch) */
  job: Job;
  nonce: string;
  /** every job of the message with its dispatch's nonce, in the message's order */
  jobs: { job: Job; nonce: string }[];
  /** jobs of a batch the coordinator withdrew (not reported) */
  withdrawn: Set<string>;
  /** stops a fused run between steps */
  stop: AbortController;
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
  /** per job: steps done, and when its progress was last published */
  stepsDone: Map<string, number>;
  lastProgress: Map<string, number>;
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
      batchColumns: this.batchColumns,
      currentJobs: [...this.running.keys()],
      stepsPerSecond,
      pid: process.pid,
      startedAtMs: this.startedAt,
      lastSeenMs: 0,
      stopping,
    };
  }

  /** The width it advertises: WORKER_BATCH_COLUMNS, else @unlearn/core's default for its engine and device. */
  get batchColumns(): number {
    return this.options.batchColumns ?? coreBatchColumns(this.options.engine, this.options.device);
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

  /** The jobs and dispatches a message carries, or null when it is none (terminated, with the reason logged). */
  private admit(msg: JsMsg): { jobs: { job: Job; nonce: string }[]; delivery: number } | null {
    try {
      const batch = isBatch(msg.headers);
      const jobs = decodeJobs(msg.subject, msg.data, batch);
      for (const job of jobs)
        if (job.engine !== this.options.engine)
          throw new Error(
            `${msg.subject}: field engine is "${job.engine}", this worker runs "${this.options.engine}"`,
          );
      const dispatch = batch
        ? batchDispatchOf(msg.headers, jobs.length)
        : (() => {
            const one = dispatchOf(msg.headers);
            return one && { nonces: [one.nonce], priorDeliveries: one.priorDeliveries };
          })();
      if (!dispatch)
        throw new Error(`${msg.subject}: header ${NONCE_HEADER} is missing or malformed (one nonce per job)`);
      return {
        jobs: jobs.map((job, i) => ({ job, nonce: dispatch.nonces[i]! })),
        delivery: dispatch.priorDeliveries + msg.info.deliveryCount,
      };
    } catch (error) {
      this.log(`rejected a malformed job message: ${(error as Error).message}`);
      msg.term((error as Error).message.slice(0, 200));
      return null;
    }
  }

  private async handle(msg: JsMsg, slot: Slot): Promise<void> {
    const admitted = this.admit(msg);
    if (!admitted) return;
    const { jobs, delivery } = admitted;
    const { job, nonce } = jobs[0]!;
    let abandon!: (why: Abandon) => void;
    const abandoned = new Promise<Abandon>((resolve) => {
      abandon = resolve;
    });
    const now = performance.now();
    const entry: Running = {
      msg,
      job,
      nonce,
      jobs,
      withdrawn: new Set(),
      stop: new AbortController(),
      delivery,
      slot,
      abandoned,
      abandon: (why) => {
        if (entry.why) return;
        entry.why = why;
        entry.stop.abort(why);
        abandon(why);
      },
      lastAdvance: now,
      stepsDone: new Map(),
      lastProgress: new Map(),
    };
    if (this.stopping) return void (await this.handBack(entry));
    for (const j of jobs) this.running.set(j.job.id, entry);
    const liveness = setInterval(() => this.keepAlive(entry), Math.max(250, this.limits.ackWaitMs / 3));
    try {
      if (jobs.length > 1) {
        const outs =
          this.limits.maxDeliver > 0 && delivery > this.limits.maxDeliver
            ? jobs.map((j) => this.givenUp(j.job, delivery))
            : await Promise.race([
                this.executeBatch(
                  jobs.map((j) => ({ ...j.job, attempt: delivery - 1, device: this.options.device })),
                  entry.stop.signal,
                ),
                abandoned,
              ]);
        if (typeof outs === "string") return await this.afterAbandon(entry, outs);
        entry.reporting = true;
        await this.reportBatch(entry, outs);
        return;
      }
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
      for (const j of jobs) this.running.delete(j.job.id);
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

  /**
   * Runs a JobBatch's jobs fused in one column batch (executeJobs), parents' chains from the object
   * store; one output per job, in order (protected, like execute, for the fault tests). It runs on this
   * process's event loop: the onnx engine's steps are asynchronous, so acks and heartbeats go on.
   */
  protected async executeBatch(jobs: Job[], signal: AbortSignal): Promise<DispatchOutput[]> {
    const outs = await executeJobs(jobs, {
      threads: this.threads,
      worker: this.id,
      signal,
      loadArtifact: async (key) => {
        const chains = await withRetry(
          `reading the chains of parent ${key.slice(0, 12)}`,
          () => getChains(this.chains, key),
          { forMs: this.options.storeRetryMs, log: this.log },
        );
        if (!chains)
          throw new Error(`the chains of parent ${key} are not in the object store ${CHAINS_BUCKET}`);
        return chains.W;
      },
      onJobProgress: (i, stepsDone, stepsTotal) =>
        this.progress({ jobId: jobs[i]!.id, stepsDone, stepsTotal, worker: this.id }),
    });
    return outs.map(({ result, artifact }) => ({
      result: { ...result, worker: this.id },
      artifact: artifact && { W: artifact.W, shape: artifact.shape },
    }));
  }

  /**
   * A batch's outputs: each job's chains uploaded under its own dispatch's name, each result
   * published with its own nonce (a failed one at once: the scheduler retries it alone), then the
   * message acked. A withdrawn job is left out.
   */
  private async reportBatch(entry: Running, outs: DispatchOutput[]): Promise<void> {
    const retry = { forMs: this.options.storeRetryMs, log: this.log };
    const size = entry.jobs.length;
    for (const [i, { job, nonce }] of entry.jobs.entries()) {
      if (entry.why) break;
      if (entry.withdrawn.has(job.id)) continue;
      const { result, artifact } = outs[i]!;
      let sha: string | undefined;
      if (result.ok && artifact)
        sha = await withRetry(
          `uploading the chains of ${job.id.slice(0, 12)}`,
          () => uploadChains(this.nc, uploadName(job.id, nonce), artifact),
          retry,
        );
      if (entry.why || entry.withdrawn.has(job.id)) continue;
      if (!result.ok)
        result.error = `${result.error} (failed in a fused batch of ${size} jobs, delivery ${entry.delivery})`;
      const bytes = JobResult.encode(result).finish();
      await withRetry(
        `publishing the result of ${job.id.slice(0, 12)}`,
        () => this.js.publish(resultSubject(job.id), bytes, { headers: resultHeaders(nonce, sha) }),
        retry,
      );
      this.log(
        `job ${job.id} ${result.ok ? "done" : "failed"} in ${Math.round(result.wallMs)} ms (delivery ${entry.delivery}, batch of ${size})`,
      );
    }
    // Handed back (SIGTERM's grace ran out during the uploads) or withdrawn whole meanwhile.
    if (entry.why) {
      if (entry.why === "cancelled") entry.msg.term("withdrawn by the coordinator");
      return;
    }
    await entry.msg.ackAck();
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
    // again from 0: only forward motion counts, for the rate and for liveness (any job of a batch).
    const before = entry.stepsDone.get(p.jobId) ?? 0;
    if (p.stepsDone > before) {
      this.heartbeat.stepped(p.stepsDone - before);
      entry.lastAdvance = performance.now();
    }
    entry.stepsDone.set(p.jobId, p.stepsDone);
    if (entry.withdrawn.has(p.jobId)) return;
    const now = performance.now();
    if (now - (entry.lastProgress.get(p.jobId) ?? 0) < PROGRESS_MS && p.stepsDone < p.stepsTotal) return;
    entry.lastProgress.set(p.jobId, now);
    try {
      const job = entry.jobs.find((j) => j.job.id === p.jobId)?.job ?? entry.job;
      const bytes = JobProgress.encode({ ...p, worker: this.id }).finish();
      this.nc.publish(progressSubject(job.sweepId), bytes);
    } catch {
      // progress is best effort
    }
  }

  /** The coordinator withdrew a job: if it runs here, it stops between steps. */
  private cancel(jobId: string): void {
    const entry = this.running.get(jobId);
    if (!entry) return;
    entry.withdrawn.add(jobId);
    if (entry.withdrawn.size < entry.jobs.length) {
      this.log(`job ${jobId.slice(0, 12)} withdrawn by the coordinator: not reported (its batch goes on)`);
      return;
    }
    // The whole message is withdrawn: it stops between steps.
    for (const { job } of entry.jobs)
      this.log(`job ${job.id.slice(0, 12)} withdrawn by the coordinator: stopped`);
    entry.abandon("cancelled");
  }

  /**
   * Gives a job back without using up a delivery: the coordinator queues it again as a new message
   * (hand-backs stream), then this one is terminated. If the hand-back cannot be published, a nak
   * (which counts) is the fallback.
   */
  private async handBack(entry: Running): Promise<void> {
    try {
      // A batch's jobs go back one by one, each queued again alone.
      for (const { job, nonce } of entry.jobs) {
        const h = headers();
        h.set(NONCE_HEADER, nonce);
        h.set(SEQ_HEADER, String(entry.msg.seq));
        h.set(DELIVERIES_HEADER, String(entry.delivery - 1));
        await this.js.publish(handbackSubject(job.id), new Uint8Array(0), { headers: h, timeout: 5000 });
      }
      entry.msg.term("handed back");
      for (const { job } of entry.jobs)
        this.log(`job ${job.id.slice(0, 12)} handed back (delivery ${entry.delivery} not counted)`);
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
    const left = [...new Set(this.running.values())];
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
