import type { Metadata } from "next";
import { ClusterWorkers } from "../../components/ClusterWorkers.tsx";
import { num, when } from "../../lib/format.ts";
import type { StoredWorkerView } from "../../lib/services.ts";
import { services } from "../../lib/services.ts";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Workers" };

function StoredWorkers({ stored }: { stored: StoredWorkerView[] }) {
  if (stored.length === 0) return <p className="muted">No stored result names a worker yet.</p>;
  return (
    <div className="scroll">
      <table>
        <caption className="muted" style={{ textAlign: "left", captionSide: "bottom", paddingTop: "0.4rem" }}>
          workers named by the stored results of the five newest sweeps, most recent first
        </caption>
        <thead>
          <tr>
            <th scope="col">worker</th>
            <th scope="col">engine</th>
            <th scope="col" className="num">
              jobs
            </th>
            <th scope="col" className="num">
              last ms/step
            </th>
            <th scope="col">last result</th>
          </tr>
        </thead>
        <tbody>
          {stored.map((w) => (
            <tr key={w.worker}>
              <td className="mono">{w.worker}</td>
              <td>{w.engine}</td>
              <td className="num">{w.jobs}</td>
              <td className="num">{num(w.lastMsPerStep, 3)}</td>
              <td>{when(w.lastSeen)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export default async function WorkersPage() {
  const view = await services().workers();
  return (
    <>
      <h1>Workers</h1>
      {view.mode === "embedded" ? (
        <p className="note">
          Embedded mode: the workers are the worker threads of the <span className="mono">pnpm sweep</span>{" "}
          process that runs a sweep (one per two cores by default, <span className="mono">--workers N</span>).
          A cluster&apos;s workers show here when the dashboard is started with{" "}
          <span className="mono">--coordinator HOST:PORT</span>.
        </p>
      ) : null}
      {view.error ? <p className="error-box">{view.error}</p> : null}
      {view.mode === "cluster" && !view.error && view.source ? (
        <ClusterWorkers workers={view.workers} source={view.source} />
      ) : null}
      <h2>Workers in stored results</h2>
      <StoredWorkers stored={view.stored} />
    </>
  );
}
