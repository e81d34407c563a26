/**
 * The coordinator's side of NATS: one connection shared by every running sweep. It publishes jobs,
 * reads results from the results stream (durable: a result sent while the coordinator was down is
 * read after its restart), routes progress, keeps the live workers from their heartbeats, and turns
 * JetStream's max-deliveries advisories into failed results. Each sweep gets a NatsDispatcher, the
 * cluster's implementation of packages/sweep's Dispatcher.
 *
 * A result message is acked only once the database holds the result (`stored`), so a coordinator
 * killed between the two reads it again after its restart; a result for a job the database already
 * holds is a duplicate and is acked and dropped.
 */
import {
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type ObjectStore, Objm } from "@nats-io/obj";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  ADVISORIES_STREAM,
  CHAINS_BUCKET,
  COORDINATOR_CONSUMER,
  decodeJob,
  decodeProgress,
  decodeResult,
  decodeWorker,
  ensureStreams,
  getChains,
  JOBS_STREAM,
  PROGRESS_ALL,
  RESULTS_STREAM,
  WORKERS_SUBJECT,
} from "@unlearn/cluster";
import type { JobProgress, JobResult, WorkerInfo } from "@unlearn/protocol";
import type { PoolOutput } from "@unlearn/sweep";

export interface Pending {
  sweepId: string;
  onProgress?(p: JobProgress): void;
  resolve(out: PoolOutput): void;
}

export interface LinkOptions {
  /** Whether the database already holds a result for the job (a duplicate is acked and dropped). */
  isStored(jobId: string): Promise<boolean>;
  /** A worker that has not been heard of for this long is not live (ms). */
  workerTtlMs?: number;
  log?(line: string): void;
}

/** Results that came before anyone asked for them (after a restart, before the sweep resumed). */
const EARLY_TTL_MS = 10 * 60_000;

export class ClusterLink {
  readonly js: JetStreamClient;
  jsm!: JetStreamManager;
  objects!: ObjectStore;
  readonly pending = new Map<string, Pending>();
  private readonly early = new Map<string, { result: JobResult; at: number }>();
  /** result messages not acked yet, by job id: acked when the database has the result */
  private readonly unacked = new Map<string, JsMsg[]>();
  private readonly workers = new Map<string, WorkerInfo>();
  private readonly capacityListeners = new Set<() => void>();
  private subs: Subscription[] = [];
  private readonly readers: ConsumerMessages[] = [];
  private closed = false;
  readonly log: (line: string) => void;

  constructor(
    readonly nc: NatsConnection,
    private readonly options: LinkOptions,
  ) {
    this.js = jetstream(nc);
    this.log = options.log ?? ((line) => console.error(`[coordinator] ${line}`));
  }

  async start(): Promise<void> {
    this.jsm = await jetstreamManager(this.nc);
    await ensureStreams(this.jsm);
    this.objects = await new Objm(this.nc).create(CHAINS_BUCKET);
    this.subscribe(PROGRESS_ALL, (subject, data) => {
      const p = decodeProgress(subject, data);
      this.pending.get(p.jobId)?.onProgress?.(p);
    });
    this.subscribe(WORKERS_SUBJECT, (subject, data) => this.onWorker(decodeWorker(subject, data)));
    void this.read(RESULTS_STREAM, (msg) => this.onResultMessage(msg));
    void this.read(ADVISORIES_STREAM, (msg) => this.onMaxDeliveries(msg));
  }

  private subscribe(subject: string, handle: (subject: string, data: Uint8Array) => void): void {
    const sub = this.nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error) return this.log(`subscription ${subject}: ${error.message}`);
        try {
          handle(msg.subject, msg.data);
        } catch (e) {
          this.log(`rejected a malformed message: ${(e as Error).message}`);
        }
      },
    });
    this.subs.push(sub);
  }

  /** A stream read through the coordinator's durable consumer for as long as the link lives (re-attached after NATS restarts). */
  private async read(stream: string, handle: (msg: JsMsg) => Promise<void>): Promise<void> {
    while (!this.closed) {
      try {
        const consumer = await this.js.consumers.get(stream, COORDINATOR_CONSUMER);
        const messages = await consumer.consume({ max_messages: 256 });
        this.readers.push(messages);
        for await (const msg of messages) await handle(msg);
      } catch (error) {
        if (!this.closed) this.log(`reading ${stream} failed, retrying: ${(error as Error).message}`);
      }
      if (!this.closed) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private async onResultMessage(msg: JsMsg): Promise<void> {
    let result: JobResult;
    try {
      result = decodeResult(msg.subject, msg.data);
      if (msg.subject !== `unlearn.results.${result.jobId}`)
        throw new Error(`${msg.subject}: field job_id ${result.jobId} does not match the subject`);
    } catch (error) {
      this.log(`rejected a malformed result message: ${(error as Error).message}`);
      msg.term();
      return;
    }
    const pending = this.pending.get(result.jobId);
    if (!pending && (await this.options.isStored(result.jobId).catch(() => false))) {
      this.log(`duplicate result for job ${result.jobId.slice(0, 12)} absorbed (already stored)`);
      msg.ack();
      return;
    }
    this.unacked.set(result.jobId, [...(this.unacked.get(result.jobId) ?? []), msg]);
    if (pending) {
      this.pending.delete(result.jobId);
      pending.resolve(await this.complete(result));
    } else {
      this.early.set(result.jobId, { result, at: Date.now() });
      this.dropStaleEarly();
    }
  }

  private dropStaleEarly(): void {
    const now = Date.now();
    for (const [id, e] of this.early)
      if (now - e.at > EARLY_TTL_MS) {
        this.early.delete(id);
        this.stored(id);
        this.log(
          `result for job ${id.slice(0, 12)} dropped: no sweep asked for it within ${EARLY_TTL_MS / 60_000} min`,
        );
      }
  }

  /** A result that arrived before its job was dispatched (e.g. while the coordinator was down). */
  takeEarly(jobId: string): JobResult | undefined {
    const e = this.early.get(jobId);
    this.early.delete(jobId);
    return e?.result;
  }

  /** The result with its chains from the object store; an ok result whose chains are gone fails. */
  async complete(result: JobResult): Promise<PoolOutput> {
    if (!result.ok) return { result };
    for (let attempt = 1; ; attempt++) {
      try {
        const chains = await getChains(this.objects, result.jobId);
        if (chains) return { result, artifact: chains };
        return {
          result: {
            ...result,
            ok: false,
            error: `its chains are missing from the object store ${CHAINS_BUCKET}`,
          },
        };
      } catch (error) {
        if (attempt >= 30)
          return {
            result: {
              ...result,
              ok: false,
              error: `its chains could not be read: ${(error as Error).message}`,
            },
          };
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** The database holds the job's result: its result messages are done with. */
  stored(jobId: string): void {
    for (const msg of this.unacked.get(jobId) ?? []) {
      try {
        msg.ack();
      } catch (error) {
        this.log(
          `ack of result ${jobId.slice(0, 12)} failed (it comes back and is absorbed): ${(error as Error).message}`,
        );
      }
    }
    this.unacked.delete(jobId);
  }

  /**
   * A job whose every delivery ended without an answer: JetStream gave it up; so does its sweep. Read
   * from a stream, so one given up while the coordinator was down fails its job after the restart.
   */
  private async onMaxDeliveries(msg: JsMsg): Promise<void> {
    try {
      const advisory = JSON.parse(new TextDecoder().decode(msg.data)) as {
        stream_seq?: number;
        deliveries?: number;
      };
      if (!Number.isInteger(advisory.stream_seq)) throw new Error("field stream_seq is not an integer");
      const stored = await this.jsm.streams
        .getMessage(JOBS_STREAM, { seq: advisory.stream_seq! })
        .catch(() => null);
      if (stored) {
        const job = decodeJob(stored.subject, stored.data);
        await this.jsm.streams.deleteMessage(JOBS_STREAM, advisory.stream_seq!).catch(() => false);
        const error = `delivered ${advisory.deliveries ?? "the maximum number of"} times without an answer (its worker died or went silent each time)`;
        this.log(`job ${job.id.slice(0, 12)} given up: ${error}`);
        const result = failed(job.id, job.engine, error);
        const pending = this.pending.get(job.id);
        this.pending.delete(job.id);
        if (pending) pending.resolve({ result });
        else this.early.set(job.id, { result, at: Date.now() });
      }
      msg.ack();
    } catch (error) {
      this.log(`rejected a max-deliveries advisory: ${(error as Error).message}`);
      msg.term();
    }
  }

  private onWorker(info: WorkerInfo): void {
    const known = this.workers.has(info.id);
    if (info.stopping) {
      this.workers.delete(info.id);
      return;
    }
    this.workers.set(info.id, { ...info, lastSeenMs: Date.now() });
    if (!known) {
      this.log(
        `worker ${info.id} joined: ${info.engine} on ${info.device}, ${info.concurrency} job(s) at once, ${info.cores} cores`,
      );
      this.notifyCapacity();
    }
  }

  /** Tells every sweep that capacity may have grown (a worker joined, or a job of any sweep ended). */
  notifyCapacity(): void {
    for (const listener of this.capacityListeners) listener();
  }

  /** Jobs queued or running for sweeps other than `sweepId`. */
  inFlightElsewhere(sweepId: string): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.sweepId !== sweepId) n++;
    return n;
  }

  /** Workers heard from within the TTL. */
  liveWorkers(): WorkerInfo[] {
    const ttl = this.options.workerTtlMs ?? 10_000;
    const now = Date.now();
    return [...this.workers.values()].filter((w) => now - w.lastSeenMs <= ttl);
  }

  /** Jobs the live workers run at once (at least 1, so a sweep starts before its workers do). */
  capacity(): number {
    return Math.max(
      1,
      this.liveWorkers().reduce((s, w) => s + w.concurrency, 0),
    );
  }

  onCapacity(listener: () => void): () => void {
    this.capacityListeners.add(listener);
    return () => this.capacityListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const sub of this.subs) sub.unsubscribe();
    for (const reader of this.readers) await reader.close();
  }
}

export function failed(jobId: string, engine: string, error: string): JobResult {
  return {
    jobId,
    ok: false,
    error,
    accuracies: [],
    artifactKey: "",
    stepsRun: 0,
    wallMs: 0,
    msPerStep: 0,
    engine,
    worker: "",
  };
}
