/**
 * Job fusion's width setting, read by both dispatchers (the embedded ThreadDispatcher here and the
 * cluster's NatsDispatcher in apps/coordinator): UNLEARN_BATCH_COLUMNS, the widest column batch in
 * columns of W (chains, × classes for multiclass) that the scheduler packs for any engine and device.
 * Unset or empty: each engine's own width (@unlearn/core's batchColumns). 0 or 1: no fusion (every job
 * runs alone). Anything but an integer ≥ 0 is refused with an error naming the variable.
 */
import { batchColumns as engineBatchColumns } from "@unlearn/core";

export const BATCH_COLUMNS_ENV = "UNLEARN_BATCH_COLUMNS";

/** The width UNLEARN_BATCH_COLUMNS sets, or undefined when it is unset or empty. Throws when invalid. */
export function batchColumnsFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[BATCH_COLUMNS_ENV]?.trim();
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw)))
    throw new RangeError(
      `${BATCH_COLUMNS_ENV} must be an integer ≥ 0 (the widest fused column batch; 0 or 1: no fusion), got ${JSON.stringify(raw)}`,
    );
  return Number(raw);
}

/**
 * The width for `engine` / `device`: `override` (an option) when given, else UNLEARN_BATCH_COLUMNS
 * when set, else the engine's own (@unlearn/core's batchColumns).
 */
export function resolveBatchColumns(
  engine: string,
  device: string,
  override?: number,
  env: NodeJS.ProcessEnv = process.env,
): number {
  if (override !== undefined) {
    if (!Number.isSafeInteger(override) || override < 0)
      throw new RangeError(`batchColumns must be an integer ≥ 0, got ${override}`);
    return override;
  }
  return batchColumnsFromEnv(env) ?? engineBatchColumns(engine, device);
}
