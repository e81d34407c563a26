/**
 * @unlearn/sweep: sweep configs, the planner (config → job DAG), the job executor, the local worker pool,
 * and the scheduler behind `pnpm sweep` and the cluster's coordinator (runSweep over a Dispatcher).
 */

export {
  BATCH_COLUMNS_ENV,
  batchColumnsFromEnv,
  resolveBatchColumns,
} from "./batch-columns.ts";
export {
  ConfigError,
  type ConfigOf,
  type ConfigOverrides,
  checkFeatures,
  DEFAULT_SMOOTHNESS,
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
export type { Dispatcher, DispatchOutput, DispatchRequest } from "./dispatcher.ts";
export {
  type Artifact,
  disposeEngines,
  type ExecuteJobsOptions,
  type ExecuteOptions,
  type ExecuteOutput,
  executeJob,
  executeJobs,
  JobInputError,
} from "./execute.ts";
export { type FeaturesRegistry, featuresRegistry, resolveRemoteFeatures } from "./features-registry.ts";
export { commitOutput, failedResult, failureOf, isSuccess } from "./job-result.ts";
export {
  checkLimits,
  DEFAULT_LIMITS,
  estimateJobs,
  LIMIT_ENV,
  LimitError,
  type RequestLimits,
  requestLimits,
} from "./limits.ts";
export { INLINE_PLAN_JOBS, planSweepAsync } from "./plan-thread.ts";
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
export {
  defaultWorkers,
  type PoolItem,
  type PoolOptions,
  ThreadDispatcher,
  type ThreadDispatcherOptions,
  threadsPerWorker,
  WorkerPool,
} from "./pool.ts";
export {
  datasetFacts,
  type RunEvent,
  type RunningJob,
  type RunSweepOptions,
  registerSweep,
  runSweep,
  type SweepOutcome,
  type SweepProgress,
} from "./run.ts";
export {
  childrenOf,
  criticalPath,
  fusionKey,
  jobColumns,
  type MakespanEstimate,
  type Packing,
  packBatch,
  ReadyQueue,
  remainingPaths,
  simulateMakespan,
} from "./scheduler-dag.ts";
export {
  type DisplayStream,
  formatDuration,
  jobLine,
  type ProgressDisplay,
  type ProgressDisplayOptions,
  progressDisplay,
  summaryLine,
} from "./scheduler-display.ts";
export { jobName, jobNames, ProgressTracker, SmoothedRate } from "./scheduler-progress.ts";
