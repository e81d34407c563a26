/**
 * @unlearn/cluster: the NATS conventions the coordinator and the workers share: stream, consumer and
 * bucket names and subjects, validated codecs, chains in the object store, the connection from the
 * environment, and the coordinator's gRPC client (CLI, tests, bench).
 */
export {
  type Chains,
  ChainsRejected,
  getChains,
  putChains,
  sealChains,
  sha256Hex,
  uploadChains,
  withRetry,
} from "./chains.ts";
export { type Coordinator, connectCoordinator } from "./client.ts";
export {
  decodeHeartbeat,
  decodeJob,
  decodeJobBatch,
  decodeJobs,
  decodeProgress,
  decodeResult,
  decodeWorker,
  MalformedMessage,
} from "./codec.ts";
export * from "./dispatch.ts";
export {
  batchColumnsFromEnv,
  ClusterConfigError,
  connectNats,
  inboxPrefix,
  type NatsSettings,
  natsSettings,
} from "./env.ts";
export { DispatchLedger, type DispatchRecord } from "./ledger.ts";
export * from "./names.ts";
export { exitWithParent } from "./parent.ts";
export {
  type Binding,
  bind,
  type ChainsBucketLimits,
  chainsBucketLimits,
  DEFAULT_CHAINS_LIMITS,
  DEFAULT_LIMITS,
  type JobLimits,
  jobLimits,
  type ProvisionOptions,
  provision,
} from "./setup.ts";
