/**
 * The live workers, from their announcements and heartbeats (core NATS, unlearn.workers): who is
 * there, what they run, and the capacity the sweeps share. Listeners hear when capacity may have
 * grown (a worker joined, or any sweep's job ended and freed a slot).
 */
import type { WorkerInfo } from "@unlearn/protocol";

export class WorkerRegistry {
  private readonly workers = new Map<string, WorkerInfo>();
  private readonly listeners = new Set<() => void>();

  constructor(
    /** a worker not heard of for this long is not live (ms) */
    private readonly ttlMs = 10_000,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** A heartbeat, an announcement, or a goodbye (`stopping`). */
  heard(info: WorkerInfo): void {
    if (info.stopping) {
      this.workers.delete(info.id);
      return;
    }
    const known = this.workers.has(info.id);
    this.workers.set(info.id, { ...info, lastSeenMs: Date.now() });
    if (known) return;
    this.log(
      `worker ${info.id} joined: ${info.engine} on ${info.device}, ${info.concurrency} job(s) at once, ${info.cores} cores`,
    );
    this.notify();
  }

  /** Workers heard from within the TTL. */
  live(): WorkerInfo[] {
    const now = Date.now();
    return [...this.workers.values()].filter((w) => now - w.lastSeenMs <= this.ttlMs);
  }

  /**
   * Jobs the live workers of `engine` (all engines when omitted) run at once; at least 1, so a sweep
   * starts before its workers do. A sweep's jobs go to its engine's workers only, so counting the
   * others' slots would queue jobs that no free worker takes.
   */
  capacity(engine?: string): number {
    const workers = this.live().filter((w) => engine === undefined || w.engine === engine);
    return Math.max(
      1,
      workers.reduce((s, w) => s + w.concurrency, 0),
    );
  }

  /**
   * Job fusion: the widest column batch every live worker of `engine` on `device` runs (the least they
   * advertise: any of them may pull a batch from the engine's shared consumer); undefined when none
   * advertises a width (none is live yet, or older workers).
   */
  batchColumns(engine: string, device: string): number | undefined {
    const ofEngine = this.live().filter((w) => w.engine === engine && w.batchColumns > 0);
    const onDevice = ofEngine.filter((w) => w.device === device);
    const workers = onDevice.length > 0 ? onDevice : ofEngine;
    if (workers.length === 0) return undefined;
    return Math.min(...workers.map((w) => w.batchColumns));
  }

  onCapacity(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells every sweep that capacity may have grown. */
  notify(): void {
    for (const listener of this.listeners) listener();
  }
}
