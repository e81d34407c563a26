"use client";
import { duration, when } from "../lib/format.ts";
import type { SweepDetailView } from "../lib/types.ts";
import { FigureBlock } from "./FigureBlock.tsx";
import { JobsTable } from "./JobsTable.tsx";
import { ProgressBar } from "./ProgressBar.tsx";
import { usePoll } from "./usePoll.ts";

/** One sweep, polled every 1.5 s while it runs: progress, ETA, jobs, and its figure redrawn as results come. */
export function LiveSweep({ initial }: { initial: SweepDetailView }) {
  const { value, problem } = usePoll<SweepDetailView>(`/api/sweeps/${initial.sweep.id}`, initial, (v) =>
    v.sweep.state === "running" ? 1500 : null,
  );
  const { sweep, jobs, figures } = value;
  return (
    <>
      <h1>{sweep.name}</h1>
      <p className="muted mono">{sweep.id}</p>
      {problem ? (
        <p role="status" className="error-box">
          Live updates paused: {problem}
        </p>
      ) : null}
      <dl className="cards" aria-live="polite">
        <div>
          <dt>state</dt>
          <dd className={`state state-${sweep.state}`} data-testid="sweep-state">
            {sweep.state}
          </dd>
        </div>
        <div>
          <dt>jobs</dt>
          <dd>
            <ProgressBar done={sweep.done + sweep.failed} total={sweep.jobs} label="jobs finished" />
          </dd>
        </div>
        <div>
          <dt>failed</dt>
          <dd>{sweep.failed}</dd>
        </div>
        <div>
          <dt>running</dt>
          <dd>{sweep.running}</dd>
        </div>
        <div>
          <dt>ETA</dt>
          <dd>{sweep.state === "running" ? duration(sweep.etaSeconds) : "–"}</dd>
        </div>
        <div>
          <dt>wall time</dt>
          <dd>{duration(sweep.wallSeconds)}</dd>
        </div>
        <div>
          <dt>figure · dataset</dt>
          <dd>
            {sweep.figure} · <span className="mono">{sweep.datasets.join(", ") || "–"}</span>
          </dd>
        </div>
        <div>
          <dt>started</dt>
          <dd>{when(sweep.createdAt)}</dd>
        </div>
      </dl>
      {sweep.error ? <p className="error-box">{sweep.error}</p> : null}
      <h2>Figure</h2>
      {figures.length === 0 ? <p className="note">This sweep draws no paper figure.</p> : null}
      {figures.map((f) => (
        <FigureBlock key={`${f.figure}-${f.dataset}`} figure={f} />
      ))}
      <h2>Jobs</h2>
      <JobsTable jobs={jobs} />
      <p>
        <a href={`/results?sweep=${sweep.id}`}>Results of this sweep</a>
      </p>
    </>
  );
}
