/**
 * The Figure 5 plan (MNIST 3v8 at the paper's constants: n = 11982, d = 784, L = 0.194700544, the
 * preset sweeps/fig5.json) through the scheduler's makespan simulator (longest remaining path first),
 * for 1, 4, 16 and 64 workers, against the DAG's critical path. Time is in steps; the wall estimate
 * multiplies by a measured time per step (17 ms per MNIST step with 100 chains on this 2-core machine,
 * ARCHITECTURE.md) — a worker per GPU would have its own.
 */
import * as accountant from "@unlearn/accountant";
import { loadConfig, planSweep, simulateMakespan } from "@unlearn/sweep";

const MNIST_FACTS = { n: 11982, d: 784, classes: 2, L: 0.194700544 };
const MS_PER_STEP = 17;

function wall(steps: number): string {
  const s = (steps * MS_PER_STEP) / 1000;
  return s < 3600 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(2)} h`;
}

export async function simulatedMakespans(workers = [1, 4, 16, 64]): Promise<void> {
  const { config } = loadConfig("fig5");
  const plan = planSweep(config, MNIST_FACTS, accountant);
  console.log(
    `\nFigure 5 plan (sweeps/fig5.json, MNIST 3v8 constants): ${plan.jobs.length} jobs, simulated makespan (steps; wall at ${MS_PER_STEP} ms/step)`,
  );
  console.log("  workers   makespan     total steps   critical path   makespan / critical path");
  for (const w of workers) {
    const m = simulateMakespan(plan.jobs, w);
    console.log(
      `  ${String(w).padStart(7)}   ${String(m.makespan).padStart(8)}   ${String(m.totalSteps).padStart(13)}   ${String(m.criticalPath).padStart(13)}   ${(m.makespan / m.criticalPath).toFixed(3).padStart(8)}   (${wall(m.makespan)})`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await simulatedMakespans();
