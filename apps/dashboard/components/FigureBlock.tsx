import type { FigureView } from "../lib/types.ts";
import { VegaChart } from "./VegaChart.tsx";

/** One paper figure: its chart (or why there is none) and the jobs it still lacks. */
export function FigureBlock({ figure, heading = 3 }: { figure: FigureView; heading?: 2 | 3 }) {
  const H = heading === 2 ? "h2" : "h3";
  const title = `${figure.name} — ${figure.dataset}`;
  return (
    <section aria-label={title} data-figure={figure.figure} data-dataset={figure.dataset}>
      <H>{title}</H>
      <p className="muted">
        from sweep <a href={`/sweeps/${figure.sweepId}`}>{figure.sweepId}</a>
      </p>
      {figure.spec ? (
        <VegaChart
          spec={figure.spec}
          svg={figure.svg}
          name={`${figure.figure}-${figure.dataset.replace(/[^\w.-]+/g, "_")}`}
          label={`${title}: series ${figure.series.join(", ")}`}
        />
      ) : (
        <p className="note">{figure.error ?? "nothing to draw yet"}</p>
      )}
      {figure.missing.length > 0 ? (
        <details>
          <summary>
            {figure.missing.length} job{figure.missing.length === 1 ? "" : "s"} without a result yet
          </summary>
          <ul className="missing">
            {figure.missing.map((m) => (
              <li key={`${m.job}-${m.series}`}>
                <span className="mono">{m.job.slice(0, 12)}</span> {m.series} ({m.state})
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </section>
  );
}
