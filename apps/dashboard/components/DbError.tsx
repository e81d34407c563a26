import type { DatabaseProblem } from "../lib/services.ts";

/** The page a database problem gives: which database, and why (the driver's own words). */
export function DbError({ problem }: { problem: DatabaseProblem }) {
  return (
    <section className="error-box" role="alert" aria-labelledby="db-error-title">
      <h1 id="db-error-title">The database cannot be reached</h1>
      <p>
        Database: <span className="mono">{problem.database}</span>
      </p>
      <p>
        Why: <span className="mono">{problem.reason}</span>
      </p>
      <p className="muted">
        Start the database (or the sweep that holds the PGlite directory), or restart the dashboard with
        another <span className="mono">--db</span>. This page reloads the data on the next visit.
      </p>
    </section>
  );
}
