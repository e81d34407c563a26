/** The coordinator's live workers: where each runs, what it runs now and how fast (from its heartbeats). */
import { num, when } from "../lib/format.ts";
import type { WorkerView } from "../lib/types.ts";

/** A job by its short id, linked to its sweep when the database names one. */
function JobLink({ job }: { job: WorkerView["currentJobs"][number] }) {
  const short = job.id.slice(0, 12);
  if (!job.sweepId) {
    return (
      <span className="mono" title={job.id}>
        {short}
      </span>
    );
  }
  return (
    <a className="mono" href={`/sweeps/${job.sweepId}`} title={`${job.id} (sweep ${job.sweepId})`}>
      {short}
    </a>
  );
}

function CurrentJobs({ jobs }: { jobs: WorkerView["currentJobs"] }) {
  if (jobs.length === 0) return <span className="muted">idle</span>;
  return (
    <>
      {jobs.map((job, i) => (
        <span key={job.id}>
          {i > 0 ? ", " : null}
          <JobLink job={job} />
        </span>
      ))}
    </>
  );
}

export function ClusterWorkers({ workers, source }: { workers: WorkerView[]; source: string }) {
  return (
    <>
      <p className="muted">
        {workers.length} worker{workers.length === 1 ? "" : "s"} reported by the coordinator at{" "}
        <span className="mono">{source}</span>.
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
              <th scope="col">current job</th>
              <th scope="col" className="num">
                steps/s
              </th>
              <th scope="col">last seen</th>
            </tr>
          </thead>
          <tbody>
            {workers.map((w) => (
              <tr key={w.id}>
                <td className="mono">{w.id}</td>
                <td>{w.host}</td>
                <td>{w.engine}</td>
                <td>{w.device}</td>
                <td className="num">
                  {w.running} / {w.concurrency}
                </td>
                <td>
                  <CurrentJobs jobs={w.currentJobs} />
                </td>
                <td className="num">{w.running > 0 ? num(w.stepsPerSecond, 3) : "–"}</td>
                <td>{w.lastSeen ? when(w.lastSeen) : "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
