/** The ε(K) curve of the accountant page as a Vega-Lite spec (log ε axis, the target ε and K marked). */
import type { TopLevelSpec } from "vega-lite";
import type { AccountantView } from "./services.ts";

export function epsilonCurveSpec(view: AccountantView, epsilon: number): TopLevelSpec {
  const x = { field: "k", type: "quantitative" as const, title: "unlearning steps K" };
  const y = {
    field: "epsilon",
    type: "quantitative" as const,
    title: "privacy loss ε after K steps",
    scale: { type: "log" as const },
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `ε(K) on ${view.dataset}`,
      subtitle: `K = ${view.K} reaches ε = ${epsilon}; ε0 = ${Number(view.epsilon0.toPrecision(4))}`,
      anchor: "start",
    },
    width: "container",
    height: 240,
    background: "white",
    padding: 12,
    layer: [
      {
        data: { values: view.curve.filter((p) => p.epsilon > 0) },
        mark: { type: "line", point: { size: 20 } },
        encoding: {
          x,
          y,
          tooltip: [
            { field: "k", type: "quantitative", title: "K" },
            { field: "epsilon", type: "quantitative", title: "ε", format: ".4~g" },
          ],
        },
      },
      {
        data: { values: [{ epsilon, label: `target ε = ${epsilon}` }] },
        mark: { type: "rule", strokeDash: [6, 4], color: "#b42318" },
        encoding: { y: { field: "epsilon", type: "quantitative" } },
      },
      {
        data: { values: [{ k: view.K, label: `K = ${view.K}` }] },
        mark: { type: "rule", strokeDash: [2, 3], color: "#1a7f37" },
        encoding: { x: { field: "k", type: "quantitative" } },
      },
    ],
  } as TopLevelSpec;
}
