"use client";
/**
 * The accountant: each change of an input asks /api/accountant (computed by @unlearn/accountant on the
 * server, with the dataset's constants) and redraws the numbers and the ε(K) curve; the URL follows.
 */
import { useEffect, useRef, useState } from "react";
import { epsilonCurveSpec } from "../lib/accountantSpec.ts";
import { num } from "../lib/format.ts";
import type { AccountantView } from "../lib/services.ts";
import { VegaChart } from "./VegaChart.tsx";

type Raw = Record<"dataset" | "epsilon" | "sigma" | "S" | "granularity" | "smoothness" | "targetK", string>;

interface Props {
  raw: Raw;
  initial: AccountantView | null;
  initialError: string | null;
  datasets: string[];
}

const FIELDS: { name: keyof Raw; label: string; hint: string }[] = [
  { name: "epsilon", label: "target ε", hint: "privacy budget after unlearning" },
  { name: "sigma", label: "noise σ", hint: "Langevin noise" },
  { name: "S", label: "S, points removed", hint: "removals in one request" },
  { name: "granularity", label: "granularity", hint: "K searched in 1, 1+G, 1+2G, …" },
  { name: "targetK", label: "target K for σ*", hint: "steps allowed for σ*(ε, K)" },
];

export function AccountantCalc({ raw: initialRaw, initial, initialError, datasets }: Props) {
  const [raw, setRaw] = useState(initialRaw);
  const [view, setView] = useState(initial);
  const [error, setError] = useState(initialError);
  const [busy, setBusy] = useState(false);
  const first = useRef(true);

  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const controller = new AbortController();
    const timer = setTimeout(async () => {
      const query = new URLSearchParams(raw).toString();
      window.history.replaceState(null, "", `/accountant?${query}`);
      setBusy(true);
      try {
        const res = await fetch(`/api/accountant?${query}`, { signal: controller.signal, cache: "no-store" });
        const body = await res.json();
        if (res.ok) {
          setView(body as AccountantView);
          setError(null);
        } else setError(String(body.error));
      } catch (e) {
        if ((e as Error).name !== "AbortError") setError((e as Error).message);
      } finally {
        if (!controller.signal.aborted) setBusy(false);
      }
    }, 300);
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [raw]);

  const set = (name: keyof Raw) => (e: { target: { value: string } }) =>
    setRaw({ ...raw, [name]: e.target.value });

  return (
    <>
      <form className="calc" method="get" action="/accountant" aria-label="Accountant inputs">
        <label>
          dataset
          <input name="dataset" list="datasets" value={raw.dataset} onChange={set("dataset")} />
          <datalist id="datasets">
            {datasets.map((d) => (
              <option key={d} value={d} />
            ))}
          </datalist>
        </label>
        {FIELDS.map((f) => (
          <label key={f.name} title={f.hint}>
            {f.label}
            <input name={f.name} inputMode="decimal" value={raw[f.name]} onChange={set(f.name)} />
          </label>
        ))}
        <label>
          smoothness L
          <select name="smoothness" value={raw.smoothness} onChange={set("smoothness")}>
            <option value="data">data: λmax(XᵀX/n)/4 + λn</option>
            <option value="bound">bound: 1/4 + λn</option>
          </select>
        </label>
        <noscript>
          <button type="submit">Compute</button>
        </noscript>
      </form>
      <div aria-live="polite" aria-busy={busy}>
        {error ? (
          <p className="error-box" role="alert">
            {error}
          </p>
        ) : null}
        {view ? <Numbers view={view} epsilon={Number(raw.epsilon)} /> : null}
      </div>
    </>
  );
}

function Numbers({ view, epsilon }: { view: AccountantView; epsilon: number }) {
  const c = view.constants;
  return (
    <>
      <dl className="cards">
        <div>
          <dt>K (unlearning steps)</dt>
          <dd data-testid="K">{view.K}</dd>
        </div>
        <div>
          <dt>α (Rényi order)</dt>
          <dd data-testid="alpha">{num(view.alpha, 5)}</dd>
        </div>
        <div>
          <dt>ε reached at K</dt>
          <dd>{num(view.epsilonAtK, 5)}</dd>
        </div>
        <div>
          <dt>ε0 (before unlearning)</dt>
          <dd data-testid="epsilon0">{num(view.epsilon0, 5)}</dd>
        </div>
        <div>
          <dt>σ* for K = {view.targetK}</dt>
          <dd data-testid="sigma-star">{view.sigmaStar === null ? "–" : num(view.sigmaStar, 5)}</dd>
        </div>
      </dl>
      {view.sigmaStarError ? <p className="muted">σ*: {view.sigmaStarError}</p> : null}
      <p className="muted">
        Constants of <span className="mono">{view.dataset}</span>: n = {c.n}, d = {c.d}, L = {num(c.L, 6)}, M
        = {num(c.M)}, m = λn = {num(c.m)}, δ = 1/n = {num(c.delta, 3)}
      </p>
      <VegaChart
        spec={epsilonCurveSpec(view, epsilon)}
        svg={null}
        name="epsilon-of-K"
        label="ε as a function of the unlearning steps K"
      />
    </>
  );
}
