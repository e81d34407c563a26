import { duration, when } from "../lib/format.ts";
import type { SweepView } from "../lib/types.ts";
import { ProgressBar } from "./ProgressBar.tsx";

/** The sweeps, newest first (the order the server gives). */
export function SweepTable({ sweeps }: { sweeps: SweepView[] }) {
  return (
    <div className="scroll">
      <table>
        <caption className="muted" style={{ textAlign: "left", captionSide: "bottom", paddingTop: "0.4rem" }}>
          {sweeps.length} sweep{sweeps.length === 1 ? "" : "s"}, newest first
        </caption>
        <thead>
          <tr>
            <th scope="col">name</th>
            <th scope="col">figure</th>
            <th scope="col">dataset</th>
            <th scope="col">state</th>
            <th scope="col">progress</th>
            <th scope="col" className="num">
              failed
            </th>
            <th scope="col" className="hide-narrow">
              started
            </th>
            <th scope="col" className="num hide-narrow">
              wall time
            </th>
          </tr>
        </thead>
        <tbody>
          {sweeps.map((s) => (
            <tr key={s.id} data-sweep={s.id}>
              <td>
                <a href={`/sweeps/${s.id}`}>{s.name}</a>
                <div className="muted mono">{s.id}</div>
              </td>
              <td>{s.figure}</td>
              <td className="mono">{s.datasets.join(", ") || "–"}</td>
              <td className={`state state-${s.state}`}>{s.state}</td>
              <td>
                <ProgressBar done={s.done + s.failed} total={s.jobs} label={`jobs finished of ${s.name}`} />
              </td>
              <td className="num">{s.failed}</td>
              <td className="hide-narrow">{when(s.createdAt)}</td>
              <td className="num hide-narrow">{duration(s.wallSeconds)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
