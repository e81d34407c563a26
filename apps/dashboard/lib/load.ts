/** Server-side: runs a data load and turns a database failure into a value the page can show. */
import { type DashboardServices, type DatabaseProblem, databaseProblem, services } from "./services.ts";

export type Loaded<T> = { ok: true; value: T } | { ok: false; problem: DatabaseProblem };

export async function load<T>(fn: (s: DashboardServices) => Promise<T>): Promise<Loaded<T>> {
  const s = services();
  try {
    return { ok: true, value: await fn(s) };
  } catch (error) {
    const problem = databaseProblem(error);
    if (problem) return { ok: false, problem };
    throw error;
  }
}
