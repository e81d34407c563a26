import type { Metadata } from "next";
import { when } from "../../lib/format.ts";
import { services } from "../../lib/services.ts";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Workers" };

export default async function WorkersPage() {
  const view = await services().workers();
  return (
    <>
      <h1>Workers</h1>
      {view.mode === "embedded" ? (
        <p className="note">
          Embedded mode (the PGlite directory <span className="mono">{services().database}</span>): the
          workers are the worker threads of the <span className="mono">pnpm sweep</span> process that runs a
          sweep, one per two cores by default (<span className="mono">--workers N</span>). Each job&apos;s
          worker, engine and ms/step show on its sweep&apos;s page.
        </p>
      ) : null}
      {view.error ? <p className="error-box">{view.error}</p> : null}
      {view.mode === "cluster" && !view.error ? (
        <>
          <p className="muted">
            {view.workers.length} worker{view.workers.length === 1 ? "" : "s"} reported by the coordinator at{" "}
            <span className="mono">{view.source}</span>.
          </p>
          <div className="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">worker</th>
                  <th scope="col">host</th>
                  <th scope="col">engine</th>
                  <th scope="col">device</th>
                  <th scope="col" className="num">
                    running / slots
                  </th>
                  <th scope="col">last seen</th>
                </tr>
              </thead>
              <tbody>
                {view.workers.map((w) => (
                  <tr key={w.id}>
                    <td className="mono">{w.id}</td>
                    <td>{w.host}</td>
                    <td>{w.engine}</td>
                    <td>{w.device}</td>
                    <td className="num">
                      {w.running} / {w.concurrency}
                    </td>
                    <td>{w.lastSeen ? when(w.lastSeen) : "–"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </>
  );
}
