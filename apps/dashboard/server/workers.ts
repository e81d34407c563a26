/**
 * The cluster's workers as the coordinator reports them (its gRPC ListWorkers), for the workers page.
 */
import { credentials, Metadata } from "@grpc/grpc-js";
import type { SweepJobRecord } from "@unlearn/db";
import { CoordinatorClient, type ListWorkersResponse } from "@unlearn/protocol";
import type { StoredWorkerView, WorkersView } from "../lib/services.ts";

/** The coordinator's workers (without `stored`, which the caller adds). */
export async function listWorkers(address: string, timeoutMs = 3000): Promise<Omit<WorkersView, "stored">> {
  const client = new CoordinatorClient(address, credentials.createInsecure());
  try {
    const response = await new Promise<ListWorkersResponse>((resolve, reject) => {
      client.listWorkers({}, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, value) =>
        error ? reject(error) : resolve(value),
      );
    });
    return {
      mode: "cluster" as const,
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
        currentJob: null,
        msPerStep: null,
      })),
    };
  } catch (error) {
    return {
      mode: "cluster" as const,
      source: address,
      workers: [],
      error: `the coordinator at ${address} did not answer ListWorkers: ${(error as Error).message}`,
    };
  } finally {
    client.close();
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
