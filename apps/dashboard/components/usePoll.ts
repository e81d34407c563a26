"use client";
/**
 * Short polling of a JSON endpoint without reloading the page: every `everyMs(value)` milliseconds, or
 * not at all while it returns null (a finished sweep has nothing left to show).
 */
import { useEffect, useState } from "react";

export function usePoll<T>(url: string, initial: T, interval: (value: T) => number | null) {
  const [value, setValue] = useState(initial);
  const [problem, setProblem] = useState<string | null>(null);
  const everyMs = interval(value);
  useEffect(() => {
    if (everyMs === null) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const tick = async () => {
      try {
        const res = await fetch(url, { cache: "no-store" });
        const body = await res.json();
        if (stopped) return;
        if (!res.ok) setProblem(String(body.error ?? res.statusText));
        else {
          setProblem(null);
          setValue(body as T);
        }
      } catch (error) {
        if (!stopped) setProblem((error as Error).message);
      }
      if (!stopped) timer = setTimeout(tick, everyMs);
    };
    timer = setTimeout(tick, everyMs);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [url, everyMs]);
  return { value, problem };
}
