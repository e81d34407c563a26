/** The planning thread of plan-thread.ts: plans workerData.request and posts the plan (or the error) back. */
import { parentPort, workerData } from "node:worker_threads";
import * as accountant from "@unlearn/accountant";
import type { PlanReply, PlanRequest } from "./plan-thread.ts";
import { PlanError, planSweep } from "./planner.ts";

const { config, facts } = (workerData as { request: PlanRequest }).request;
let reply: PlanReply;
try {
  reply = { plan: planSweep(config, facts, accountant) };
} catch (error) {
  reply = { error: (error as Error).message ?? String(error), planError: error instanceof PlanError };
}
parentPort!.postMessage(reply);
