import type { Metadata } from "next";
import { DbError } from "../../components/DbError.tsx";
import { FigureBlock } from "../../components/FigureBlock.tsx";
import { load } from "../../lib/load.ts";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Figures" };

/** The paper figures without any result on a dataset, and the commands that would make them. */
function MissingFigures({
  dataset,
  missing,
}: {
  dataset: string;
  missing: { id: string; name: string; caption: string }[];
}) {
  if (missing.length === 0) return null;
  return (
    <div className="note">
      <p>No results on this dataset for:</p>
      <ul>
        {missing.map((entry) => (
          <li key={entry.id}>
            {entry.name} ({entry.caption}):{" "}
            <span className="mono">
              pnpm sweep --config {entry.id} --dataset &apos;{dataset}&apos;
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Figures 3a, 3b, 3c, 4 and 5 for every dataset with results, each from the newest sweep that has it. */
export default async function FiguresPage() {
  const loaded = await load(async (s) => ({ figures: await s.figures(), catalog: s.figureCatalog() }));
  if (!loaded.ok) return <DbError problem={loaded.problem} />;
  const { figures, catalog } = loaded.value;
  const datasets = [...new Set(figures.map((f) => f.dataset))].sort();
  return (
    <>
      <h1>Figures</h1>
      <p className="muted">
        The paper&apos;s figures drawn from stored results (hover a point for mean ± std, chains and job).
      </p>
      {datasets.length === 0 ? (
        <p className="note">
          No results stored yet: run a preset, e.g. <span className="mono">pnpm sweep --config fig5</span>.
        </p>
      ) : null}
      {datasets.map((dataset) => (
        <section key={dataset} aria-label={`dataset ${dataset}`}>
          <h2>
            Dataset <span className="mono">{dataset}</span>
          </h2>
          {catalog.map((entry) => {
            const figure = figures.find((f) => f.figure === entry.id && f.dataset === dataset);
            return figure ? <FigureBlock key={entry.id} figure={figure} /> : null;
          })}
          <MissingFigures
            dataset={dataset}
            missing={catalog.filter((e) => !figures.some((f) => f.figure === e.id && f.dataset === dataset))}
          />
        </section>
      ))}
    </>
  );
}
