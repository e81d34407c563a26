/** Route handlers' JSON answers: a database problem is a 503 that names the database and why. */
import { databaseProblem } from "./services.ts";

export function json(value: unknown, status = 200): Response {
  return Response.json(value, { status, headers: { "cache-control": "no-store" } });
}

export async function answer(fn: () => Promise<unknown>): Promise<Response> {
  try {
    const value = await fn();
    return value === null ? json({ error: "not found" }, 404) : json(value);
  } catch (error) {
    const problem = databaseProblem(error);
    if (problem)
      return json({ error: `the database ${problem.database} cannot be reached: ${problem.reason}` }, 503);
    throw error;
  }
}
