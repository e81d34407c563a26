/**
 * `pnpm bench:cluster [--sweeps N] [--workers N]`: the cluster on this machine, end to end with real
 * processes: its own nats-server (JetStream) and PostgreSQL database, a coordinator and 3 workers.
 * 20 sweeps of 51 small synthetic jobs each (1020 jobs) are submitted at once over gRPC; reported:
 * jobs per second (first submission → last sweep done), the latency from a job's publication to
 * JetStream to its result stored in PostgreSQL (p50 / p99, both timestamps from PostgreSQL's clock),
 * and the count of stored results against the jobs planned, proving none was lost or stored twice.
 *
 * Then the Figure 5 plan (MNIST 3v8, the paper's constants) is run through the scheduler's makespan
 * simulator for 1, 4, 16 and 64 workers, against the DAG's critical path; the bytes a real MNIST job
 * stores at 100 chains; and the scheduler alone (cluster-scheduler.ts): a 10,000-job plan on 64
 * simulated workers in memory, its overhead per job and the bytes stored per job.
 * `--skip-cluster` leaves out the first part (the processes) and runs the in-memory ones only.
 */
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import * as accountant from "@unlearn/accountant";
import { datasetFacts, parseConfig, planSweep, type SweepConfig } from "@unlearn/sweep";
import { Cluster } from "../apps/coordinator/test/cluster.ts";
import { simulatedMakespans } from "./cluster-makespan.ts";
import { schedulerOverhead, storedBytesPerJob } from "./cluster-scheduler.ts";

const { values } = parseArgs({
  options: {
    sweeps: { type: "string", default: "20" },
    workers: { type: "string", default: "3" },
    "skip-cluster": { type: "boolean", default: false },
  },
});
const SWEEPS = Number(values.sweeps);
const WORKERS = Number(values.workers);
if (!Number.isInteger(SWEEPS) || SWEEPS < 1)
  throw new Error(`--sweeps: expected an integer ≥ 1, got ${values.sweeps}`);
if (!Number.isInteger(WORKERS) || WORKERS < 1)
  throw new Error(`--workers: expected an integer ≥ 1, got ${values.workers}`);

/** 51 jobs: 1 learn, 25 unlearn (K from 91 to ~1500 steps), 25 retrain, on a 500×8 synthetic set. */
function smallSweep(seed: number): SweepConfig {
  return parseConfig({
    name: `bench ${seed}`,
    figure: "fig5",
    dataset: "synthetic?n=500&d=8&test=200&classes=2&seed=1",
    lambda: 1e-6,
    smoothness: "data",
    chains: 1,
    burnIn: 30,
    seed,
    engine: "onnx",
    removals: Array.from({ length: 25 }, (_, i) => i + 1),
    epsilons: [50],
    sigma: 0.03,
    granularity: 10,
  });
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function sql(url: string, query: string): string[][] {
  const out = execFileSync("psql", [url, "-At", "-F", "\t", "-c", query], { encoding: "utf8" });
  return out
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split("\t"));
}

async function clusterRun(): Promise<void> {
  const configs = Array.from({ length: SWEEPS }, (_, i) => smallSweep(i + 1));
  const facts = await datasetFacts(configs[0]!);
  const planned = new Set(configs.flatMap((c) => planSweep(c, facts, accountant).jobs.map((j) => j.id)));
  console.log(`starting nats-server, PostgreSQL database, coordinator and ${WORKERS} workers…`);
  const cluster = await Cluster.start({
    workers: WORKERS,
    workerEnv: { WORKER_THREADS: "1", JOB_ACK_WAIT_MS: "30000" },
  });
  try {
    const t0 = performance.now();
    const ids = await Promise.all(
      configs.map(
        async (c) => (await cluster.client.call("submitSweep", { configJson: JSON.stringify(c) })).sweepId,
      ),
    );
    const ends = await Promise.all(ids.map((id) => cluster.watch(id)));
    const wallS = (performance.now() - t0) / 1000;
    const failed = ends.reduce((s, e) => s + e.failed, 0);
    const list = [...planned].map((id) => `'${id}'`).join(",");
    const [[rows, distinct]] = sql(
      cluster.db.url,
      `select count(*), count(distinct job_id) from results where job_id in (${list})`,
    ) as [[string, string]];
    // publish → stored: the job's last "queued" event before its result row, both stamped by PostgreSQL.
    const latencies = sql(
      cluster.db.url,
      `select extract(epoch from (r.created_at - q.at)) * 1000 from results r
       join lateral (select max(e.at) as at from events e where e.job_id = r.job_id and e.type = 'queued' and e.at <= r.created_at) q on true
       where r.job_id in (${list}) and q.at is not null`,
    )
      .map(([ms]) => Number(ms))
      .sort((a, b) => a - b);
    console.log(`\ncluster: ${WORKERS} workers × 1 job at once (1 engine thread each), 2-core CPU machine`);
    console.log(`  jobs planned        ${planned.size} in ${SWEEPS} sweeps (${failed} failed)`);
    console.log(
      `  results stored      ${rows} (${distinct} distinct jobs): ${Number(distinct) === planned.size && rows === distinct ? "none lost, none twice" : "MISMATCH"}`,
    );
    console.log(
      `  wall                ${wallS.toFixed(1)} s  →  ${(planned.size / wallS).toFixed(1)} jobs/s`,
    );
    console.log(
      `  publish → stored    p50 ${quantile(latencies, 0.5).toFixed(0)} ms, p99 ${quantile(latencies, 0.99).toFixed(0)} ms (${latencies.length} jobs)`,
    );
    if (Number(distinct) !== planned.size || rows !== distinct || failed > 0) process.exitCode = 1;
  } finally {
    await cluster.stop();
  }
}

if (!values["skip-cluster"]) await clusterRun();
await simulatedMakespans();
await storedBytesPerJob();
await schedulerOverhead();
