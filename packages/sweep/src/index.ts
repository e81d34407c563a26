/**
 * @unlearn/sweep: sweep configs, the planner (config → job DAG), the job executor, the local worker pool
 * and the embedded coordinator behind `pnpm sweep`.
 */
export {
  ConfigError,
  type ConfigOf,
  type ConfigOverrides,
  checkFeatures,
  ENGINES,
  FIGURES,
  type Figure,
  findSweepsDir,
  type LoadedConfig,
  loadConfig,
  parseConfig,
  resolveConfigPath,
  type SweepConfig,
  sweepConfigSchema,
} from "./config.ts";
export {
  type Artifact,
  type ExecuteOptions,
  type ExecuteOutput,
  executeJob,
  JobInputError,
} from "./execute.ts";
export {
  type AccountantApi,
  canonicalJson,
  type DatasetFacts,
  type LinkLabels,
  PlanError,
  planSweep,
  type SweepLink,
  type SweepPlan,
  sweepIdOf,
} from "./planner.ts";
export { defaultWorkers, type PoolOptions, type PoolOutput, threadsPerWorker, WorkerPool } from "./pool.ts";
export {
  datasetFacts,
  type RunEvent,
  type RunSweepOptions,
  runSweep,
  type SweepOutcome,
  type SweepProgress,
} from "./run.ts";
