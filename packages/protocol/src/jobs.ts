import { createHash } from "node:crypto";
import { JobKind, JobSpec } from "./gen/sweep.ts";
import type { ResultKind } from "./rows.ts";

/**
 * A job's content address: hex SHA-256 of its spec's proto3 encoding. ts-proto writes fields in field-number
 * order and omits default values, so equal specs always encode to the same bytes (a spec without a
 * features key, every dataset but a features directory, hashes exactly as before the field existed). The engine lives in `Job`,
 * not `JobSpec`, so the same computation on onnx or tfjs shares one id (and one stored result).
 */
export function jobId(spec: JobSpec): string {
  // A features dataset is what its files contain (features_key), not where they lie: with a key, the
  // path is left out, so a moved folder keeps its ids and regenerated features (a new key) get new ones.
  const keyed = spec.featuresKey !== "" ? { ...spec, featuresPath: "" } : spec;
  return createHash("sha256").update(JobSpec.encode(keyed).finish()).digest("hex");
}

const KIND_NAMES: Record<
  Exclude<JobKind, JobKind.JOB_KIND_UNSPECIFIED | JobKind.UNRECOGNIZED>,
  ResultKind
> = {
  [JobKind.JOB_KIND_LEARN]: "learn",
  [JobKind.JOB_KIND_UNLEARN]: "unlearn",
  [JobKind.JOB_KIND_RETRAIN]: "retrain",
  [JobKind.JOB_KIND_D2D_LEARN]: "d2d-learn",
  [JobKind.JOB_KIND_D2D_UNLEARN]: "d2d-unlearn",
};

/** The ResultRow `kind` name of a proto JobKind; throws for UNSPECIFIED / unknown values. */
export function kindName(kind: JobKind): ResultKind {
  const name = (KIND_NAMES as Record<number, ResultKind | undefined>)[kind];
  if (!name)
    throw new Error(`job kind ${kind} has no name: expected one of ${Object.keys(KIND_NAMES).join(", ")}`);
  return name;
}

/** The proto JobKind of a ResultRow `kind` name; throws naming the bad value. */
export function kindFromName(name: string): JobKind {
  for (const [kind, n] of Object.entries(KIND_NAMES)) if (n === name) return Number(kind) as JobKind;
  throw new Error(`unknown job kind "${name}": expected one of ${Object.values(KIND_NAMES).join(", ")}`);
}
