/** A sweep's jobs done of total, as a native <progress> (announced by screen readers) with the numbers. */
export function ProgressBar({ done, total, label }: { done: number; total: number; label: string }) {
  const pct = total > 0 ? Math.round((100 * done) / total) : 0;
  return (
    <div className="bar">
      <progress max={Math.max(total, 1)} value={done} aria-label={label} data-done={done} data-total={total}>
        {pct}%
      </progress>
      <span>
        {done}/{total}
      </span>
    </div>
  );
}
