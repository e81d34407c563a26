/**
 * One stored result as the database hands it out (`Store.sweepResults`), `pnpm results --json` prints it
 * and `@unlearn/figures` draws it. Defined here, beside the job messages, so producer and consumers share
 * one definition (docs/contracts.md, "Result rows").
 */
export type ResultKind = "learn" | "unlearn" | "retrain" | "d2d-learn" | "d2d-unlearn";

export const RESULT_KINDS: readonly ResultKind[] = [
  "learn",
  "unlearn",
  "retrain",
  "d2d-learn",
  "d2d-unlearn",
];

/** The smoothness constant a job ran with (docs/science.md §2): L_data or the bound 1/4 + λn. */
export type SmoothnessName = "data" | "bound";

export interface ResultRow {
  sweep: string;
  job: string;
  /** the preset's figure id, e.g. "fig5" */
  figure: string;
  /** the legend label the planner chose, e.g. "unlearning ε=1" */
  series: string;
  kind: ResultKind;
  dataset: string;
  /** which L set the step η = 1/L and the accountant's K and ε0 (null: the job's spec names none) */
  smoothness: SmoothnessName | null;
  sigma: number;
  epsilon: number | null;
  removals: number;
  K: number | null;
  alpha: number | null;
  epsilon0: number | null;
  batch: number | null;
  chains: number;
  accuracyMean: number;
  accuracyStd: number;
  accuracies: number[];
  engine: string;
  wallMs: number;
  /** job fusion: the width (columns of W) of the column batch it ran in; null when it ran alone */
  fusedColumns: number | null;
}
