/**
 * The scheduler at scale, in memory: the real Scheduler and Dispatcher contract (run, progress,
 * commit) over a real Store (PGlite in memory), driving a 10,000-job plan on 64 simulated workers
 * whose jobs finish at once. What it measures is the scheduler's own cost per job, apart from the
 * store's: the writes are serialised (the scheduler is the single writer), so the time the store is
 * busy is summed, and overhead = (wall − store busy) / jobs. Reported per 1,000-job window (median
 * and worst) with the store's time per job, and the bytes the sweep holds per job.
 *
 * Then the bytes a real job stores: a learn and an unlearn job on MNIST 3v8 with 100 chains (onnx,
 * one worker thread), their chains and rows as PostgreSQL stores them (pg_column_size), which gives
 * the README's bytes per job (CIFAR's from its d and classes with MNIST's measured overhead).
 */
import { openStore, type Store } from "@unlearn/db";
import { type Job, JobKind, JobResult, JobSpec, jobId } from "@unlearn/protocol";
import {
  commitOutput,
  type Dispatcher,
  type DispatchOutput,
  type DispatchRequest,
  jobNames,
  parseConfig,
  registerSweep,
  runSweep,
  type SweepPlan,
} from "@unlearn/sweep";
import { Scheduler } from "../packages/sweep/src/scheduler.ts";

const D = 784;

/** `parents` learn jobs with `children` unlearn jobs each: the shape of Figures 4 and 5, scaled up. */
export function bigPlan(parents: number, children: number): SweepPlan {
  const jobs: Job[] = [];
  const links: SweepPlan["links"] = [];
  const sweepId = `bench-scheduler-${parents}x${children}`;
  const job = (spec: JobSpec): Job => ({
    id: jobId(spec),
    spec,
    sweepId,
    attempt: 0,
    engine: "sim",
    device: "cpu",
  });
  for (let p = 0; p < parents; p++) {
    const base = { dataset: "mnist-3v8", lambda: 1e-6, chains: 1, seed: 1n, sigma: 0.01 + p * 1e-4 };
    const learn = job(JobSpec.fromPartial({ ...base, kind: JobKind.JOB_KIND_LEARN, steps: 10_000 }));
    jobs.push(learn);
    links.push({ jobId: learn.id, figure: "", series: "learning on D", labels: {} });
    for (let c = 0; c < children; c++) {
      const spec = {
        ...base,
        kind: JobKind.JOB_KIND_UNLEARN,
        steps: 100 + ((c * 37) % 900),
        removals: c + 1,
      };
      const child = job(JobSpec.fromPartial({ ...spec, parentId: learn.id }));
      jobs.push(child);
      links.push({ jobId: child.id, figure: "fig4", series: `σ=${base.sigma}`, labels: { epsilon: c + 1 } });
    }
  }
  return { sweepId, jobs, links, warnings: [] };
}

/**
 * 64 workers in memory: a job takes a free worker, reports one progress step, and ends at once. No
 * fusion (batchColumns 1): each batch is one job, so the overhead measured is per job.
 */
class SimulatedWorkers implements Dispatcher {
  private readonly free: string[];
  constructor(readonly capacity: number) {
    this.free = Array.from({ length: capacity }, (_, i) => `sim-${i}`);
  }
  batchColumns(): number {
    return 1;
  }
  run(batch: readonly DispatchRequest[]): Promise<DispatchOutput>[] {
    return batch.map((request) => this.one(request));
  }
  private async one({ job, parentChains, onProgress }: DispatchRequest): Promise<DispatchOutput> {
    const worker = this.free.pop();
    if (!worker) throw new Error("the scheduler exceeded the dispatcher's capacity");
    const from = await parentChains?.();
    await new Promise((r) => setImmediate(r));
    onProgress?.({ jobId: job.id, stepsDone: 1, stepsTotal: 1, worker });
    this.free.push(worker);
    // Not zeros: PostgreSQL would compress those, and the bytes stored would read too low.
    const W = from ? from.map((v) => v + 1) : Float32Array.from({ length: D }, (_, i) => Math.sin(i * 1.7));
    const result = JobResult.fromPartial({
      jobId: job.id,
      ok: true,
      accuracies: [0.9],
      artifactKey: job.id,
      stepsRun: job.spec!.steps,
      engine: "sim",
      worker,
    });
    return { result, artifact: { W, shape: [D, 1] } };
  }
  commit(output: DispatchOutput, store: Store): Promise<void> {
    return commitOutput(store, output);
  }
  async close(): Promise<void> {}
}

/** The store with its busy time summed (its writes never overlap: the scheduler serialises them). */
function timed(store: Store): { store: Store; busyMs: () => number } {
  let busy = 0;
  const wrapped = new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        const t = performance.now();
        try {
          return await value.apply(target, args);
        } finally {
          busy += performance.now() - t;
        }
      };
    },
  });
  return { store: wrapped, busyMs: () => busy };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function schedulerOverhead(parents = 100, children = 99, workers = 64): Promise<void> {
  const plan = bigPlan(parents, children);
  const real = await openStore("memory://");
  try {
    // Registered as runSweep registers a plan (the synthetic plan's config only names it).
    const config = parseConfig({
      name: "bench",
      figure: "fig4",
      dataset: "mnist-3v8",
      chains: 1,
      burnIn: 10_000,
      removals: [1],
      epsilons: [1],
      sigma: 0.01,
    });
    await registerSweep(real, config, plan);
    const { store, busyMs } = timed(real);
    const windows: number[] = [];
    let done = 0;
    let mark = { t: performance.now(), busy: 0 };
    const t0 = performance.now();
    const outcome = await new Scheduler({
      plan,
      store,
      dispatcher: new SimulatedWorkers(workers),
      todo: new Set(plan.jobs.map((j) => j.id)),
      names: jobNames(plan.jobs, plan.links),
      reused: 0,
      onEvent: (e) => {
        if (e.type !== "result" || ++done % 1000 !== 0) return;
        const now = { t: performance.now(), busy: busyMs() };
        windows.push((now.t - mark.t - (now.busy - mark.busy)) / 1000);
        mark = now;
      },
    }).run();
    const wall = performance.now() - t0;
    const jobs = plan.jobs.length;
    const held = await real.sweepStorage(plan.sweepId);
    console.log(
      `\nscheduler: ${jobs} jobs (${parents} learn × ${children} unlearn), ${workers} simulated workers, PGlite in memory, 2-core shared machine`,
    );
    console.log(`  ran ${outcome.ran}, failed ${outcome.failed}, wall ${(wall / 1000).toFixed(1)} s`);
    console.log(
      `  scheduling overhead per job   median ${median(windows).toFixed(3)} ms, worst ${Math.max(...windows).toFixed(3)} ms (per 1,000-job window; all ${((wall - busyMs()) / jobs).toFixed(3)} ms)  target < 1 ms`,
    );
    console.log(
      `  store writes per job          ${(busyMs() / jobs).toFixed(2)} ms (serialised: the single writer's bound on jobs/s)`,
    );
    console.log(
      `  bytes stored per job          ${Math.round(held.totalBytes / jobs)} B: chains ${Math.round(held.chainBytes / jobs)} B (${held.chains} parents' ${D}×1 float32 kept, leaves' not stored), rows ${Math.round(held.rowBytes / jobs)} B`,
    );
    if (outcome.ran !== jobs) process.exitCode = 1;
  } finally {
    await real.close();
  }
}

/** Bytes one real MNIST job stores at 100 chains: chains (as stored) and rows. */
export async function storedBytesPerJob(): Promise<void> {
  const config = parseConfig({
    name: "bench bytes per job",
    figure: "fig4",
    dataset: "mnist-3v8",
    chains: 100,
    burnIn: 20,
    removals: [1],
    epsilons: [50],
    sigma: 0.03,
    keepChains: true,
  });
  const store = await openStore("memory://");
  try {
    const out = await runSweep(config, { db: store, workers: 1 });
    const held = await store.sweepStorage(out.sweepId);
    const chainsPerJob = held.chainBytes / held.chains;
    const payload = D * 100 * 4;
    const rowsPerJob = held.rowBytes / held.jobs;
    const overhead = chainsPerJob / payload;
    console.log(`\nbytes a real job stores: MNIST 3v8, 100 chains (${out.ran} jobs run, onnx, ${out.state})`);
    console.log(
      `  chains ${Math.round(chainsPerJob)} B as stored (payload ${payload} B = ${D}×100 float32; ×${overhead.toFixed(4)}), rows ${Math.round(rowsPerJob)} B/job`,
    );
    for (const [name, d, classes] of [
      ["CIFAR-10 3v8", 512, 1],
      ["CIFAR-10 multiclass", 512, 10],
    ] as const) {
      const bytes = d * classes * 100 * 4;
      console.log(
        `  ${name}: ${d}×${classes > 1 ? `${classes}×` : ""}100 float32 = ${bytes} B of chains (computed, ×${overhead.toFixed(4)} as MNIST's)`,
      );
    }
  } finally {
    await store.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await storedBytesPerJob();
  await schedulerOverhead();
}
