import { num } from "../lib/format.ts";
import type { JobView } from "../lib/types.ts";

/** A sweep's jobs: state, K / steps, worker, engine, ms/step and error. */
export function JobsTable({ jobs }: { jobs: JobView[] }) {
  return (
    <div className="scroll">
      <table>
        <thead>
          <tr>
            <th scope="col">job</th>
            <th scope="col">kind</th>
            <th scope="col">series</th>
            <th scope="col">state</th>
            <th scope="col" className="num">
              K / steps
            </th>
            <th scope="col">worker</th>
            <th scope="col">engine</th>
            <th scope="col" className="num">
              ms/step
            </th>
            <th scope="col">error</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((j) => (
            <tr key={j.id} data-job={j.id} data-state={j.state}>
              <td className="mono">{j.id.slice(0, 12)}</td>
              <td>{j.kind}</td>
              <td>{j.series || <span className="muted">(dependency)</span>}</td>
              <td className={`state state-${j.state}`}>{j.state}</td>
              <td className="num">{j.K === null ? j.steps : `${j.K} / ${j.steps}`}</td>
              <td className="mono">{j.worker ?? "–"}</td>
              <td>{j.engine ?? "–"}</td>
              <td className="num">{num(j.msPerStep, 3)}</td>
              <td>{j.error ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
