/**
 * The cluster's workers as the coordinator reports them (its gRPC ListWorkers), for the workers page.
 */
import { credentials, Metadata } from "@grpc/grpc-js";
import { CoordinatorClient, type ListWorkersResponse } from "@unlearn/protocol";
import type { WorkersView } from "../lib/services.ts";

export async function listWorkers(address: string, timeoutMs = 3000): Promise<WorkersView> {
  const client = new CoordinatorClient(address, credentials.createInsecure());
  try {
    const response = await new Promise<ListWorkersResponse>((resolve, reject) => {
      client.listWorkers({}, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, value) =>
        error ? reject(error) : resolve(value),
      );
    });
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
        currentJob: null,
        msPerStep: null,
      })),
    };
  } catch (error) {
    return {
      mode: "cluster",
      source: address,
      workers: [],
      error: `the coordinator at ${address} did not answer ListWorkers: ${(error as Error).message}`,
    };
  } finally {
    client.close();
  }
}
