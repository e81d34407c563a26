/**
 * @unlearn/cluster: the NATS conventions the coordinator and the workers share: stream, consumer and
 * bucket names and subjects, validated codecs, chains in the object store, the connection from the
 * environment, and the coordinator's gRPC client (CLI, tests, bench).
 */
export { type Chains, getChains, putChains } from "./chains.ts";
export { type Coordinator, connectCoordinator } from "./client.ts";
export { decodeJob, decodeProgress, decodeResult, decodeWorker, MalformedMessage } from "./codec.ts";
export { ClusterConfigError, connectNats, type NatsSettings, natsSettings } from "./env.ts";
export * from "./names.ts";
export { exitWithParent } from "./parent.ts";
export { DEFAULT_LIMITS, ensureStreams, ensureWorkerConsumer, type JobLimits, jobLimits } from "./setup.ts";
