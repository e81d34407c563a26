/**
 * The coordinator's sweeps: each submitted sweep runs through packages/sweep's scheduler (runSweep) with
 * a NatsDispatcher, so planning, DAG order, reuse, failure propagation, progress and the outcome are
 * the embedded mode's. Watchers of a running sweep get its latest state, then every event until it
 * ends; a sweep that ended answers with its end from the database.
 *
 * Restart: the submitted config is kept in the sweep's events ("submitted"); on start every sweep left
 * running (or interrupted) by a coordinator resumes from the database, reusing each stored result.
 */
import type { Store, SweepSummary } from "@unlearn/db";
import type { Job, JobResult, SweepDone, SweepEvent, SweepPlanned, SweepProgress } from "@unlearn/protocol";
import {
  ConfigError,
  checkLimits,
  type DatasetFacts,
  datasetFacts,
  type FeaturesRegistry,
  featuresRegistry,
  PlanError,
  parseConfig,
  planSweepAsync,
  type RunEvent,
  requestLimits,
  resolveRemoteFeatures,
  runSweep,
  type SweepConfig,
  type SweepOutcome,
  type SweepPlan,
} from "@unlearn/sweep";
import { NatsDispatcher } from "./dispatcher.ts";
import type { ClusterLink } from "./link.ts";

/** A caller's mistake (bad config, unknown sweep): the gRPC layer answers INVALID_ARGUMENT / NOT_FOUND. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly kind: "invalid" | "not-found",
  ) {
    super(message);
  }
}

type Watcher = (event: SweepEvent) => void;

interface Active {
  sweepId: string;
  controller: AbortController;
  dispatcher?: NatsDispatcher;
  watchers: Set<Watcher>;
  planned?: SweepPlanned;
  progress?: SweepProgress;
  done?: SweepDone;
  finished: Promise<void>;
}

const RESUMABLE = new Set(["running", "interrupted", "planned"]);

export class SweepManager {
  private readonly active = new Map<string, Active>();
  private readonly ended = new Map<string, SweepDone>();
  /** sweeps between "not running" and running: a second submission meanwhile does not start it twice */
  private readonly launching = new Set<string>();
  /** bounds on what a submission may ask for (SWEEP_MAX_*, read at start; see @unlearn/sweep limits.ts) */
  private readonly limits = requestLimits();
  /** the operator's features folders by content key (FEATURES_DIRS), hashed when a sweep first needs them */
  private features?: Promise<FeaturesRegistry>;

  constructor(
    /** the store runSweep writes through (the link stores results into the same one) */
    private readonly store: Store,
    private readonly link: ClusterLink,
  ) {}

  async submit(configJson: string): Promise<{ sweepId: string; jobs: number; cached: number }> {
    let config: SweepConfig;
    try {
      config = parseConfig(JSON.parse(configJson), "submitted config");
      // Bounded before anything is loaded or planned; features by content key, never a host path.
      checkLimits(config, this.limits);
      if (config.featuresDir !== undefined || config.featuresKey !== undefined)
        config = resolveRemoteFeatures(config, await (this.features ??= featuresRegistry()));
    } catch (error) {
      throw new RequestError((error as Error).message, "invalid");
    }
    return this.launch(config, true);
  }

  private async launch(config: SweepConfig, fresh: boolean) {
    let facts: DatasetFacts;
    let plan: SweepPlan;
    try {
      facts = await datasetFacts(config);
      plan = await planSweepAsync(config, facts); // a large plan on a thread: RPCs keep being served
    } catch (error) {
      if (error instanceof PlanError || error instanceof ConfigError)
        throw new RequestError(error.message, "invalid");
      throw new RequestError(`cannot plan the sweep: ${(error as Error).message}`, "invalid");
    }
    const { sweepId } = plan;
    const cached = (await this.store.doneJobIds(plan.jobs.map((j) => j.id))).size;
    if (!this.active.has(sweepId) && !this.launching.has(sweepId)) {
      this.launching.add(sweepId);
      try {
        const submissions = await this.store.countEvents(sweepId, "submitted").catch(() => 0);
        this.run(config, facts, sweepId, fresh, fresh ? submissions + 1 : Math.max(1, submissions));
      } finally {
        this.launching.delete(sweepId);
      }
    }
    return { sweepId, jobs: plan.jobs.length, cached };
  }

  private run(
    config: SweepConfig,
    facts: DatasetFacts,
    sweepId: string,
    fresh: boolean,
    generation: number,
  ): void {
    const controller = new AbortController();
    const active: Active = { sweepId, controller, watchers: new Set(), finished: Promise.resolve() };
    this.active.set(sweepId, active);
    this.ended.delete(sweepId);
    const onQueued = (job: Job) => {
      void this.store
        .appendEvent({
          sweepId,
          jobId: job.id,
          type: "queued",
          payload: { attempt: job.attempt, generation },
        })
        .catch(() => {});
    };
    const dispatcher = new NatsDispatcher(this.link, sweepId, facts.d, { onQueued, engine: config.engine });
    active.dispatcher = dispatcher;
    active.finished = runSweep(config, {
      db: this.store,
      dispatcher,
      facts,
      onChainsFreed: (jobId) => this.dropChains(jobId),
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === "planned" && fresh)
          void this.store
            .appendEvent({ sweepId, type: "submitted", payload: { config } })
            .catch((error) =>
              this.link.log(`sweep ${sweepId}: config not recorded: ${(error as Error).message}`),
            );
        this.onEvent(active, e);
      },
    })
      .then((outcome) => this.finish(active, doneOf(outcome, config)))
      .catch((error: unknown) => {
        this.link.log(`sweep ${sweepId} stopped: ${(error as Error).stack ?? error}`);
        this.finish(active, {
          ...emptyDone(config),
          state: "failed",
          error: (error as Error).message ?? String(error),
        });
      })
      .finally(() => dispatcher.close());
  }

  /**
   * A job's chains leave the chains bucket once its sweep needs them no more and no job in flight
   * starts from them. The database keeps every parent's chains, and a dispatch whose parent's chains
   * are not in the bucket uploads them again (dispatcher.ts), so a later sweep loses nothing.
   */
  private dropChains(jobId: string): void {
    if (this.link.jobs.startsFrom(jobId)) return;
    this.link.objects
      .delete(jobId)
      .catch((error) =>
        this.link.log(`chains of ${jobId.slice(0, 12)} not dropped: ${(error as Error).message}`),
      );
  }

  private onEvent(active: Active, e: RunEvent): void {
    // A caller's dispatcher leaves threads to the transport: the live workers' engine threads per job.
    const threads = () => Math.max(0, ...this.link.workers.live().map((w) => w.threads));
    const event = sweepEvent(active.sweepId, e, threads);
    if (!event) return;
    if (event.event?.$case === "planned") active.planned = event.event.value;
    if (event.event?.$case === "sweepProgress") active.progress = event.event.value;
    this.broadcast(active, event);
  }

  private broadcast(active: Active, event: SweepEvent): void {
    for (const watcher of active.watchers) watcher(event);
  }

  private finish(active: Active, done: SweepDone): void {
    active.done = done;
    this.ended.set(active.sweepId, done);
    this.active.delete(active.sweepId);
    this.broadcast(active, { sweepId: active.sweepId, event: { $case: "done", value: done } });
    this.link.log(
      `sweep ${active.sweepId} ${done.cancelled ? "cancelled" : done.state}: ${done.ran} run, ${done.reused} reused, ${done.failed} failed`,
    );
  }

  /** Every sweep a coordinator left running: resumed as they were submitted. */
  async resume(): Promise<string[]> {
    const resumed: string[] = [];
    for (const s of await this.store.listSweeps()) {
      if (!RESUMABLE.has(s.state) || this.active.has(s.id)) continue;
      // The sweep's own events of two types, by the (sweep, type) index: not its whole log.
      const submitted = await this.store.findEvent(s.id, ["submitted"], "first");
      if (!submitted) continue; // an embedded sweep: its own `pnpm sweep` resumes it
      // A sweep cancelled since its last submission stays stopped (CancelSweep is final until resubmitted).
      const last = await this.store.findEvent(s.id, ["submitted", "cancelled"], "last");
      if (last?.type === "cancelled") continue;
      try {
        const config = parseConfig((submitted.payload as { config: unknown }).config, `sweep ${s.id}`);
        const { sweepId } = await this.launch(config, false);
        resumed.push(sweepId);
      } catch (error) {
        this.link.log(`sweep ${s.id} not resumed: ${(error as Error).message}`);
      }
    }
    return resumed;
  }

  /** A sweep by id or unique id prefix, looked up on the sweeps' id index (not by reading every sweep). */
  async find(wanted: string): Promise<SweepSummary> {
    if (!wanted) throw new RequestError("sweep_id is empty", "invalid");
    const matches = await this.store.findSweeps(wanted, 10);
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1)
      throw new RequestError(
        `sweep "${wanted}" is ambiguous: ${matches.map((s) => s.id).join(", ")}`,
        "invalid",
      );
    throw new RequestError(`unknown sweep "${wanted}"`, "not-found");
  }

  /**
   * Sends the sweep's state now and then its events; `end` is called after its done event. Returns
   * the function that stops watching (the client went away).
   */
  async watch(wanted: string, send: Watcher, end: () => void): Promise<() => void> {
    const id = this.active.has(wanted) ? wanted : (await this.find(wanted)).id;
    const active = this.active.get(id);
    if (!active) {
      send({
        sweepId: id,
        event: { $case: "done", value: this.ended.get(id) ?? (await this.doneFromStore(id)) },
      });
      end();
      return () => {};
    }
    if (active.planned) send({ sweepId: id, event: { $case: "planned", value: active.planned } });
    if (active.progress) send({ sweepId: id, event: { $case: "sweepProgress", value: active.progress } });
    const watcher: Watcher = (event) => {
      send(event);
      if (event.event?.$case === "done") {
        active.watchers.delete(watcher);
        end();
      }
    };
    active.watchers.add(watcher);
    return () => active.watchers.delete(watcher);
  }

  /** A sweep that ended before this coordinator started: its end as the database recorded it. */
  private async doneFromStore(id: string): Promise<SweepDone> {
    const s = await this.find(id);
    const last = (await this.store.findEvent(id, ["done"], "last"))?.payload as
      | { ran?: number; reused?: number; wallMs?: number }
      | undefined;
    const cancelled = (await this.store.countEvents(id, "cancelled")) > 0;
    return {
      state: s.state === "done" ? "done" : "failed",
      jobs: s.jobs,
      failed: s.failed,
      ran: last?.ran ?? 0,
      reused: last?.reused ?? 0,
      notRun: Math.max(0, s.jobs - s.done - s.failed),
      cancelled,
      wallMs: last?.wallMs ?? s.updatedAt.getTime() - s.createdAt.getTime(),
      location: this.store.location,
      name: s.name,
      figure: s.figure,
      error: s.error ?? "",
    };
  }

  async cancel(wanted: string): Promise<{ sweepId: string; wasRunning: boolean }> {
    const id = this.active.has(wanted) ? wanted : (await this.find(wanted)).id;
    const active = this.active.get(id);
    if (!active) return { sweepId: id, wasRunning: false };
    active.controller.abort();
    await active.dispatcher?.close();
    await active.finished;
    return { sweepId: id, wasRunning: true };
  }

  runningIds(): string[] {
    return [...this.active.keys()];
  }
}

/** The scheduler's RunEvent as the WatchSweep stream carries it (undefined for events it does not carry). */
export function sweepEvent(sweepId: string, e: RunEvent, liveThreads: () => number): SweepEvent | undefined {
  switch (e.type) {
    case "planned": {
      const { jobs, reused, toRun, workers, threads, warnings } = e;
      const value = { jobs, reused, toRun, workers, threads: threads || liveThreads(), warnings };
      return { sweepId, event: { $case: "planned", value } };
    }
    case "progress": {
      const { total, done, reused, failed, running, stepsPerSecond, etaSeconds, jobs } = e.progress;
      const value = {
        total,
        done,
        reused,
        failed,
        running,
        stepsPerSecond,
        etaSeconds: etaSeconds ?? undefined,
        jobs: jobs ?? [],
      };
      return { sweepId, event: { $case: "sweepProgress", value } };
    }
    case "started":
      return { sweepId, event: { $case: "started", value: { jobId: e.job.id } }, jobName: e.name };
    case "result":
      return { sweepId, event: { $case: "result", value: e.result as JobResult }, jobName: e.name };
    case "skipped":
      return {
        sweepId,
        event: { $case: "skipped", value: { jobId: e.job.id, reason: e.reason } },
        jobName: e.name,
      };
    default:
      return undefined;
  }
}

function doneOf(outcome: SweepOutcome, config: SweepConfig): SweepDone {
  return {
    state: outcome.state,
    jobs: outcome.jobs,
    failed: outcome.failed,
    ran: outcome.ran,
    reused: outcome.reused,
    notRun: outcome.notRun,
    cancelled: outcome.cancelled,
    wallMs: outcome.wallMs,
    location: outcome.location,
    name: config.name,
    figure: config.figure,
    error: outcome.error ?? "",
  };
}

function emptyDone(config: SweepConfig): SweepDone {
  return {
    state: "failed",
    jobs: 0,
    failed: 0,
    ran: 0,
    reused: 0,
    notRun: 0,
    cancelled: false,
    wallMs: 0,
    location: "",
    name: config.name,
    figure: config.figure,
    error: "",
  };
}
