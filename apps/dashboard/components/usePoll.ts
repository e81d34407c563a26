"use client";
/** Short polling of a JSON endpoint: every `everyMs` while `active`, without reloading the page. */
import { useEffect, useState } from "react";

export function usePoll<T>(url: string, initial: T, active: (value: T) => boolean, everyMs = 1500) {
  const [value, setValue] = useState(initial);
  const [problem, setProblem] = useState<string | null>(null);
  const keepGoing = active(value);
  useEffect(() => {
    if (!keepGoing) return;
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
  }, [url, keepGoing, everyMs]);
  return { value, problem };
}
