"use client";
import type { SweepView } from "../lib/types.ts";
import { SweepTable } from "./SweepTable.tsx";
import { usePoll } from "./usePoll.ts";

/** The sweeps list, refreshed every 1.5 s while a sweep runs, every 5 s otherwise (to see new ones). */
export function LiveSweeps({ initial }: { initial: SweepView[] }) {
  const { value, problem } = usePoll<SweepView[]>("/api/sweeps", initial, (list) =>
    list.some((s) => s.state === "running") ? 1500 : 5000,
  );
  return (
    <>
      {problem ? (
        <p role="status" className="error-box">
          Live updates paused: {problem}
        </p>
      ) : null}
      {value.length === 0 ? (
        <p className="note">
          No sweeps stored yet. Start one with <span className="mono">pnpm sweep --config fig5</span>; it
          appears here while it runs.
        </p>
      ) : (
        <SweepTable sweeps={value} />
      )}
    </>
  );
}
