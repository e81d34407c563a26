/** A whole cluster for a test file: nats-server, a database, a coordinator and workers, with their clients. */
import { type Coordinator, connectCoordinator } from "@unlearn/cluster";
import type { SweepDone, SweepEvent } from "@unlearn/protocol";
import {
  createDatabase,
  freePort,
  Nats,
  type Proc,
  spawnCoordinator,
  spawnProc,
  spawnWorker,
  waitFor,
} from "./harness.ts";

/** The chains bucket's bound in these tests: JetStream reserves it on disk, and the 20 GiB default fails on a fuller disk. */
export const TEST_CHAINS_MAX_BYTES = 256 * 1024 ** 2;

export const TOKEN = "test-token-0123456789";

export class Cluster {
  nats!: Nats;
  db!: { url: string; drop(): void };
  coordinator!: Proc;
  readonly workers: Proc[] = [];
  client!: Coordinator;
  grpcPort = 0;

  static async start(
    options: { workers?: number; workerEnv?: NodeJS.ProcessEnv; faultWorkers?: boolean } = {},
  ): Promise<Cluster> {
    const c = new Cluster();
    c.nats = await Nats.start();
    c.db = createDatabase();
    c.grpcPort = await freePort();
    c.workerEnv = {
      ...c.baseEnv(),
      WORKER_THREADS: "1",
      WORKER_HEARTBEAT_MS: "500",
      JOB_ACK_WAIT_MS: "4000",
      ...options.workerEnv,
    };
    c.faultWorkers = options.faultWorkers ?? false;
    await c.startCoordinator();
    for (let i = 0; i < (options.workers ?? 2); i++) c.addWorker();
    await c.waitWorkers(options.workers ?? 2);
    return c;
  }

  private workerEnv: NodeJS.ProcessEnv = {};
  private faultWorkers = false;

  baseEnv(): NodeJS.ProcessEnv {
    return {
      NATS_URL: this.nats.url,
      DATABASE_URL: this.db.url,
      GRPC_ADDR: `127.0.0.1:${this.grpcPort}`,
      COORDINATOR_TOKEN: TOKEN,
      CHAINS_BUCKET_MAX_BYTES: String(TEST_CHAINS_MAX_BYTES),
    };
  }

  async startCoordinator(): Promise<void> {
    this.coordinator = spawnCoordinator(this.baseEnv());
    // It listens at once, but serves only once it holds the lease and has resumed its sweeps.
    await waitFor(
      "the coordinator to serve",
      () => /active: serving/.test(this.coordinator.output()),
      60_000,
    );
    this.client?.close();
    this.client = connectCoordinator(`127.0.0.1:${this.grpcPort}`, TOKEN);
  }

  /** A second coordinator on the same database and NATS, on a port of its own: it stands by. */
  async startStandby(): Promise<{ proc: Proc; port: number; client: Coordinator }> {
    const port = await freePort();
    const proc = spawnCoordinator({ ...this.baseEnv(), GRPC_ADDR: `127.0.0.1:${port}` }, "standby");
    await waitFor("the standby to stand by", () => /standing by/.test(proc.output()), 60_000);
    return { proc, port, client: connectCoordinator(`127.0.0.1:${port}`, TOKEN) };
  }

  addWorker(env: NodeJS.ProcessEnv = {}): Proc {
    const name = `worker${this.workers.length + 1}`;
    const w = this.faultWorkers
      ? spawnProc(
          ["--import", "tsx", "apps/coordinator/test/fault-worker.ts"],
          { ...this.workerEnv, ...env },
          name,
        )
      : spawnWorker({ ...this.workerEnv, ...env }, name);
    this.workers.push(w);
    return w;
  }

  async waitWorkers(n: number): Promise<void> {
    await waitFor(
      `${n} live workers`,
      async () => (await this.client.call("listWorkers", {})).workers.length >= n,
      90_000,
    );
  }

  /** Every event of a sweep until its end, reattaching while the coordinator is away. */
  async watch(
    sweepId: string,
    onEvent: (e: SweepEvent) => void = () => {},
    client: Coordinator = this.client,
  ): Promise<SweepDone> {
    for (;;) {
      const done = await new Promise<SweepDone | undefined>((resolve) => {
        const call = client.watch({ sweepId });
        let end: SweepDone | undefined;
        call.on("data", (e: SweepEvent) => {
          onEvent(e);
          if (e.event?.$case === "done") end = e.event.value;
        });
        call.on("error", () => resolve(end));
        call.on("end", () => resolve(end));
      });
      if (done) return done;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** Lines the workers logged for finished jobs, by job id. */
  runsPerJob(): Map<string, number> {
    const runs = new Map<string, number>();
    for (const w of this.workers)
      for (const m of w.output().matchAll(/job ([0-9a-f]{64}) (?:done|failed) in/g))
        runs.set(m[1]!, (runs.get(m[1]!) ?? 0) + 1);
    return runs;
  }

  async stop(): Promise<void> {
    this.client?.close();
    for (const w of this.workers) w.kill();
    this.coordinator?.kill();
    await Promise.all([...this.workers.map((w) => w.exited), this.coordinator?.exited]);
    await this.nats?.stop();
    this.db?.drop();
  }
}
