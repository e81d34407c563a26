/**
 * The features folders a coordinator serves, by content key: its operator lists them in FEATURES_DIRS
 * (separated by ":"), and a remote sweep refers to one by `featuresKey`. A remote sweep never names a
 * path on the coordinator's host: it could read (and, for a missing manifest, write into) any folder.
 */
import { delimiter, isAbsolute } from "node:path";
import { featuresKey } from "@unlearn/core";
import { ConfigError, type SweepConfig } from "./config.ts";

/** content key → folder */
export type FeaturesRegistry = ReadonlyMap<string, string>;

/** Hashes every folder of FEATURES_DIRS (their SHA256SUMS must agree with their files). */
export async function featuresRegistry(env: NodeJS.ProcessEnv = process.env): Promise<FeaturesRegistry> {
  const dirs = (env.FEATURES_DIRS ?? "").split(delimiter).filter((d) => d.trim() !== "");
  const registry = new Map<string, string>();
  for (const dir of dirs) {
    if (!isAbsolute(dir)) throw new Error(`FEATURES_DIRS: "${dir}" is not an absolute path`);
    try {
      registry.set(await featuresKey(dir), dir);
    } catch (error) {
      throw new Error(`FEATURES_DIRS: ${dir}: ${(error as Error).message}`);
    }
  }
  return registry;
}

/**
 * A submitted config with its features resolved: `featuresKey` becomes the registered folder (the
 * sweep and job ids hash the key either way), and a `featuresDir` is refused.
 */
export function resolveRemoteFeatures(config: SweepConfig, registry: FeaturesRegistry): SweepConfig {
  const registered = () =>
    registry.size === 0
      ? "none is registered (the operator lists features folders in FEATURES_DIRS)"
      : `registered: ${[...registry.keys()].join(", ")}`;
  if (config.featuresDir !== undefined)
    throw new ConfigError(
      `featuresDir: a sweep sent to a coordinator cannot name a folder on its host; refer to the features by featuresKey (${registered()})`,
    );
  if (config.featuresKey === undefined) return config;
  const dir = registry.get(config.featuresKey);
  if (dir === undefined)
    throw new ConfigError(
      `featuresKey: ${config.featuresKey} is not served by this coordinator (${registered()})`,
    );
  const { featuresKey: _key, ...rest } = config;
  return { ...rest, featuresDir: dir } as SweepConfig;
}
