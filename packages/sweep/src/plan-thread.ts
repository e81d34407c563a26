/**
 * Planning without blocking the caller's event loop: a large plan (thousands of accountant queries,
 * 270 ms for 8,500 jobs here) is made on a worker thread, so a coordinator keeps answering its RPCs,
 * heartbeats and results meanwhile. A small one (most sweeps: the paper's figures plan in ~10 ms) is
 * planned inline, where a thread's start-up would cost more than it saves.
 */
import { Worker } from "node:worker_threads";
import * as accountant from "@unlearn/accountant";
import type { SweepConfig } from "./config.ts";
import { estimateJobs } from "./limits.ts";
import { type DatasetFacts, PlanError, planSweep, type SweepPlan } from "./planner.ts";

/** Plans of at most this many jobs (an upper bound, estimateJobs) are made inline. */
export const INLINE_PLAN_JOBS = 500;

// The pool's boot module registers tsx before importing the TypeScript entry in workerData.entry.
const BOOT = new URL("./worker-boot.mjs", import.meta.url);
const ENTRY = new URL("./plan-worker.ts", import.meta.url);

export interface PlanRequest {
  config: SweepConfig;
  facts: DatasetFacts;
}

export type PlanReply = { plan: SweepPlan } | { error: string; planError: boolean };

/** planSweep's result, made on a worker thread unless the plan is small. */
export async function planSweepAsync(
  config: SweepConfig,
  facts: DatasetFacts,
  inlineBelow = INLINE_PLAN_JOBS,
): Promise<SweepPlan> {
  if (estimateJobs(config) <= inlineBelow) return planSweep(config, facts, accountant);
  const request: PlanRequest = { config, facts };
  const worker = new Worker(BOOT, { workerData: { entry: ENTRY.href, request } });
  try {
    const reply = await new Promise<PlanReply>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) =>
        reject(new Error(`the planning thread exited (code ${code}) without a plan`)),
      );
    });
    if ("plan" in reply) return reply.plan;
    throw reply.planError ? new PlanError(reply.error) : new Error(reply.error);
  } finally {
    await worker.terminate();
  }
}
