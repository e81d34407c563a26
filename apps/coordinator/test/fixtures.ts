/** Small synthetic sweeps: the cluster tests check transport and fault handling, not the science. */
import { parseConfig, type SweepConfig } from "@unlearn/sweep";

export const SYNTHETIC = "synthetic?n=2000&d=32&test=500&classes=2&seed=1";

export function tinyConfig(overrides: Partial<Record<string, unknown>> = {}): SweepConfig {
  return parseConfig({
    name: "cluster test",
    figure: "fig5",
    dataset: SYNTHETIC,
    lambda: 1e-6,
    smoothness: "data",
    chains: 2,
    burnIn: 300,
    seed: 0,
    engine: "onnx",
    removals: [1, 10],
    epsilons: [1],
    sigma: 0.03,
    granularity: 10,
    ...overrides,
  });
}
