import type { Metadata } from "next";
import { DbError } from "../../components/DbError.tsx";
import { num } from "../../lib/format.ts";
import { load } from "../../lib/load.ts";
import {
  applyQuery,
  FILTERS,
  filterOptions,
  parseQuery,
  type Query,
  queryString,
  type SortField,
} from "../../lib/results.ts";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Results" };

const SHOWN = 1000;

const COLUMNS: { field: SortField; label: string; numeric?: boolean }[] = [
  { field: "sweep", label: "sweep" },
  { field: "figure", label: "figure" },
  { field: "series", label: "series" },
  { field: "kind", label: "kind" },
  { field: "dataset", label: "dataset" },
  { field: "sigma", label: "σ", numeric: true },
  { field: "epsilon", label: "ε", numeric: true },
  { field: "removals", label: "S", numeric: true },
  { field: "K", label: "K", numeric: true },
  { field: "chains", label: "chains", numeric: true },
  { field: "accuracyMean", label: "accuracy", numeric: true },
  { field: "accuracyStd", label: "± std", numeric: true },
];

function SortHeader({
  q,
  field,
  label,
  numeric,
}: {
  q: Query;
  field: SortField;
  label: string;
  numeric?: boolean;
}) {
  const active = q.sort === field;
  const dir = active && q.dir === "asc" ? "desc" : "asc";
  return (
    <th
      scope="col"
      className={numeric ? "num" : undefined}
      aria-sort={active ? (q.dir === "asc" ? "ascending" : "descending") : "none"}
    >
      <a href={`/results${queryString(q, { sort: field, dir })}`}>
        {label}
        {active ? (q.dir === "asc" ? " ▲" : " ▼") : ""}
      </a>
    </th>
  );
}

export default async function ResultsPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const q = parseQuery(await searchParams);
  const loaded = await load((s) => s.results());
  if (!loaded.ok) return <DbError problem={loaded.problem} />;
  const all = loaded.value;
  const rows = applyQuery(all, q);
  const options = filterOptions(all);
  return (
    <>
      <h1>Results</h1>
      <form className="filters" method="get" action="/results" aria-label="Filter results">
        {FILTERS.map((f) => (
          <label key={f.param}>
            {f.label}
            <select name={f.param} defaultValue={q.filters[f.param] ?? ""}>
              <option value="">all</option>
              {options[f.param].map((v) => (
                <option key={v} value={v}>
                  {f.param === "sweep" ? v.slice(0, 12) : v}
                </option>
              ))}
            </select>
          </label>
        ))}
        {q.sort ? <input type="hidden" name="sort" value={q.sort} /> : null}
        {q.sort ? <input type="hidden" name="dir" value={q.dir} /> : null}
        <button type="submit">Apply filters</button>
        <a className="button" href="/results">
          Clear
        </a>
        <a className="button" href={`/api/results.csv${queryString(q)}`} download="results.csv">
          Export CSV
        </a>
      </form>
      <p className="muted" role="status">
        {rows.length} of {all.length} result rows
        {rows.length > SHOWN ? ` (the first ${SHOWN} shown; the CSV has all)` : ""}
      </p>
      <div className="scroll">
        <table>
          <thead>
            <tr>
              {COLUMNS.map((c) => (
                <SortHeader key={c.field} q={q} {...c} />
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, SHOWN).map((r) => (
              <tr key={`${r.sweep}-${r.job}-${r.series}-${r.epsilon}-${r.batch}`} data-job={r.job}>
                <td className="mono">
                  <a href={`/sweeps/${r.sweep}`}>{r.sweep.slice(0, 8)}</a>
                </td>
                <td>{r.figure || "–"}</td>
                <td>{r.series}</td>
                <td>{r.kind}</td>
                <td className="mono">{r.dataset}</td>
                <td className="num">{num(r.sigma)}</td>
                <td className="num">{num(r.epsilon)}</td>
                <td className="num">{r.removals}</td>
                <td className="num">{r.K ?? "–"}</td>
                <td className="num">{r.chains}</td>
                <td className="num">{r.accuracyMean.toFixed(4)}</td>
                <td className="num">{r.accuracyStd.toFixed(4)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
