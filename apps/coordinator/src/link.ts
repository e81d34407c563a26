/**
 * The coordinator's side of NATS: one connection shared by every running sweep, wiring the parts that
 * each do one job:
 *   - jobs (registry.ts): the jobs in flight, one dispatch each, with every sweep waiting for it;
 *   - intake (intake.ts): the results stream, validated, stored, acked, then handed to the waiters;
 *   - advisories (advisories.ts): jobs JetStream gave up, stored failed the same way;
 *   - workers (workers.ts): the live workers from their heartbeats, and the capacity they offer.
 * Progress (core NATS) goes to the sweeps waiting for its job. Each sweep gets a NatsDispatcher
 * (dispatcher.ts), the cluster's implementation of packages/sweep's Dispatcher, over this link.
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
  DispatchLedger,
  decodeHeartbeat,
  decodeProgress,
  jobLimits,
  PROGRESS_ALL,
  provision,
  RESULTS_STREAM,
  WORKERS_ALL,
} from "@unlearn/cluster";
import type { Store } from "@unlearn/db";
import { ENGINES } from "@unlearn/sweep";
import { MaxDeliveries } from "./advisories.ts";
import { dispatchCheck } from "./dispatch-proof.ts";
import { type ResultCheck, ResultsIntake } from "./intake.ts";
import { InFlightRegistry } from "./registry.ts";
import { WorkerRegistry } from "./workers.ts";

export interface LinkOptions {
  /** where results are stored as they arrive */
  store: Store;
  /** an extra check every result must pass (see intake.ts) */
  validate?: ResultCheck;
  /** A worker that has not been heard of for this long is not live (ms). */
  workerTtlMs?: number;
  log?(line: string): void;
}

export class ClusterLink {
  readonly js: JetStreamClient;
  jsm!: JetStreamManager;
  objects!: ObjectStore;
  intake!: ResultsIntake;
  ledger!: DispatchLedger;
  readonly jobs = new InFlightRegistry();
  readonly workers: WorkerRegistry;
  readonly log: (line: string) => void;
  private subs: Subscription[] = [];
  private readonly readers: ConsumerMessages[] = [];
  private closed = false;

  constructor(
    readonly nc: NatsConnection,
    private readonly options: LinkOptions,
  ) {
    this.js = jetstream(nc);
    this.log = options.log ?? ((line) => console.error(`[coordinator] ${line}`));
    this.workers = new WorkerRegistry(options.workerTtlMs, this.log);
  }

  /** the store results go into (the sweeps' store) */
  get store(): Store {
    return this.options.store;
  }

  async start(): Promise<void> {
    this.jsm = await jetstreamManager(this.nc);
    // Provisioning is the coordinator's alone (workers only bind): streams, consumers, buckets.
    await provision(this.nc, { engines: ENGINES, limits: jobLimits() });
    this.objects = await new Objm(this.nc).create(CHAINS_BUCKET);
    // Dispatches with nonces, kept in NATS across restarts; hand-backs queue a job again (ledger.ts).
    this.ledger = await DispatchLedger.open(this.nc, this.log);
    void this.ledger.serveHandBacks();
    this.intake = new ResultsIntake({
      store: this.options.store,
      jobs: this.jobs,
      objects: this.objects,
      validate: this.options.validate ?? dispatchCheck(this.ledger, this.options.store),
      settled: (jobId) => this.ledger.settle(jobId),
      log: this.log,
    });
    const advisories = new MaxDeliveries(this.jsm, this.intake, this.log);
    this.subscribe(PROGRESS_ALL, (subject, data) => this.jobs.progress(decodeProgress(subject, data)));
    // Each NATS user's workers on their own subject; an id of another user's is refused (codec.ts).
    this.subscribe(WORKERS_ALL, (subject, data) => this.workers.heard(decodeHeartbeat(subject, data)));
    void this.read(RESULTS_STREAM, (msg) => this.intake.onMessage(msg));
    void this.read(ADVISORIES_STREAM, (msg) => advisories.onMessage(msg));
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

  async close(): Promise<void> {
    this.closed = true;
    await this.ledger?.close();
    for (const sub of this.subs) sub.unsubscribe();
    for (const reader of this.readers) await reader.close();
  }
}
