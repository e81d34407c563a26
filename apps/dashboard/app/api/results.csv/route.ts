import { answer } from "../../../lib/api.ts";
import { applyQuery, csvFileName, parseQuery } from "../../../lib/results.ts";
import { services } from "../../../lib/services.ts";

export const dynamic = "force-dynamic";

/** The explorer's rows as CSV: the same bytes `pnpm results --sweep ID --csv` prints for the same rows. */
export async function GET(req: Request) {
  const q = parseQuery(new URL(req.url).searchParams);
  let rows: Awaited<ReturnType<ReturnType<typeof services>["results"]>>;
  try {
    rows = applyQuery(await services().results(), q);
  } catch (error) {
    // A database problem answers 503 naming it; anything else is a bug and propagates.
    return answer(() => Promise.reject(error));
  }
  const name = csvFileName(q.filters.sweep);
  return new Response(`${services().resultsCsv(rows)}\n`, {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${name}"`,
      "cache-control": "no-store",
    },
  });
}
