/**
 * The cluster's workers as the coordinator reports them (its gRPC ListWorkers), for the workers page.
 */
import { connectCoordinator } from "@unlearn/cluster";
import type { SweepJobRecord } from "@unlearn/db";
import type { StoredWorkerView, WorkersView } from "../lib/services.ts";

/** The coordinator's workers (without `stored`, which the caller adds); `token` is its UNLEARN_TOKEN. */
export async function listWorkers(
  address: string,
  token: string | undefined,
  timeoutMs = 3000,
): Promise<Omit<WorkersView, "stored">> {
  const failed = (why: string) => ({ mode: "cluster" as const, source: address, workers: [], error: why });
  if (!token) return failed(`the coordinator at ${address} needs its token: set UNLEARN_TOKEN`);
  let coordinator: ReturnType<typeof connectCoordinator>;
  try {
    coordinator = connectCoordinator(address, token);
  } catch (error) {
    return failed((error as Error).message);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const response = await Promise.race([
      coordinator.call("listWorkers", {}),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return {
      mode: "cluster",
      source: address,
      error: null,
      workers: response.workers.map((w) => ({
        id: w.id,
        host: w.host,
        engine: w.engine,
        device: w.device,
        running: w.running,
        concurrency: w.concurrency,
        lastSeen: w.lastSeenMs ? new Date(w.lastSeenMs).toISOString() : null,
        currentJobs: w.currentJobs.map((id) => ({ id, sweepId: null })),
        stepsPerSecond: w.stepsPerSecond,
      })),
    };
  } catch (error) {
    return failed(`the coordinator at ${address} did not answer ListWorkers: ${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
    coordinator.close();
  }
}

/** Workers as stored results name them, over the jobs of the newest sweeps (most recent result first). */
export function storedWorkers(links: readonly SweepJobRecord[]): StoredWorkerView[] {
  const byWorker = new Map<string, StoredWorkerView & { at: number; ids: Set<string> }>();
  for (const link of links) {
    const r = link.result;
    if (!r) continue;
    const at = r.createdAt.getTime();
    const entry = byWorker.get(r.worker);
    if (!entry) {
      byWorker.set(r.worker, {
        worker: r.worker,
        engine: r.engine,
        jobs: 0,
        lastMsPerStep: r.msPerStep,
        lastSeen: r.createdAt.toISOString(),
        at,
        ids: new Set([link.jobId]),
      });
      continue;
    }
    entry.ids.add(link.jobId);
    if (at > entry.at) {
      Object.assign(entry, {
        at,
        engine: r.engine,
        lastMsPerStep: r.msPerStep,
        lastSeen: r.createdAt.toISOString(),
      });
    }
  }
  return [...byWorker.values()]
    .sort((a, b) => b.at - a.at)
    .map(({ at: _at, ids, ...w }) => ({ ...w, jobs: ids.size }));
}

/**
 * Names the sweep of each worker's current jobs from the sweeps' job links (a job shared by two sweeps
 * takes the newest one, the first in `links`): the page links a job to its sweep, or shows the bare id.
 */
export function withSweeps<T extends Pick<WorkersView, "workers">>(
  view: T,
  links: readonly { sweepId: string; jobId: string }[],
): T {
  const sweepOf = new Map<string, string>();
  for (const l of links) if (!sweepOf.has(l.jobId)) sweepOf.set(l.jobId, l.sweepId);
  const workers = view.workers.map((w) => ({
    ...w,
    currentJobs: w.currentJobs.map((j) => ({ id: j.id, sweepId: sweepOf.get(j.id) ?? null })),
  }));
  return { ...view, workers };
}
