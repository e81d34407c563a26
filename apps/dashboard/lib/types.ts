/**
 * The shapes the dashboard's server hands its pages and the browser (plain JSON: dates as ISO strings).
 * Type-only imports: this file is bundled by Next and must not pull a workspace package in.
 */
import type { TopLevelSpec } from "vega-lite";

export type SweepStateName = "running" | "done" | "failed" | "interrupted";

export interface SweepView {
  id: string;
  name: string;
  figure: string;
  /** datasets of the sweep's jobs (usually one) */
  datasets: string[];
  state: string;
  jobs: number;
  done: number;
  failed: number;
  running: number;
  createdAt: string;
  /** seconds from creation to the last event (or to now while running) */
  wallSeconds: number;
  /** seconds left at the rate of this run; null before a rate is known or when finished */
  etaSeconds: number | null;
  error: string | null;
}

export interface JobView {
  id: string;
  kind: string;
  figure: string;
  series: string;
  state: string;
  /** K of an unlearning job (label or steps), else null */
  K: number | null;
  steps: number;
  attempts: number;
  worker: string | null;
  engine: string | null;
  msPerStep: number | null;
  wallMs: number | null;
  error: string | null;
}

/** One paper figure for one dataset: its Vega-Lite spec, or why it cannot be drawn, and what is missing. */
export interface FigureView {
  figure: string;
  name: string;
  dataset: string;
  sweepId: string;
  spec: TopLevelSpec | null;
  /** the spec drawn on the server (Vega's SVG renderer), so the first HTML holds the figure */
  svg: string | null;
  error: string | null;
  /** series names the figure draws (its legend) */
  series: string[];
  /** jobs linked to the figure without a stored result: "series (state)" */
  missing: { job: string; series: string; state: string }[];
}

export interface SweepDetailView {
  sweep: SweepView;
  jobs: JobView[];
  figures: FigureView[];
}

export interface WorkerView {
  id: string;
  host: string;
  engine: string;
  device: string;
  running: number;
  concurrency: number;
  lastSeen: string | null;
  /** the jobs it runs now (from its heartbeats), each with its sweep when the database links one */
  currentJobs: { id: string; sweepId: string | null }[];
  /** its step rate over its running jobs since its previous heartbeat; 0 when idle */
  stepsPerSecond: number;
}
