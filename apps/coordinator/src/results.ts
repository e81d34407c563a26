/**
 * QueryResults in pages: no response nears gRPC's 4 MiB default (a 10,000-job sweep at 100 chains is
 * about 11 MB of rows); the server's handler finds the sweep (SweepManager.find, on the id index).
 */
import { type Store, type SweepSummary, sortResultRows } from "@unlearn/db";
import {
  type QueryResultsRequest,
  type QueryResultsResponse,
  ResultRecord,
  type ResultRow,
  type SweepInfo,
} from "@unlearn/protocol";
import { RequestError } from "./sweeps.ts";

/** Rows per page unless the client asks for fewer. */
export const MAX_PAGE_ROWS = 1000;
/** A page's encoded rows stay under this; rows of many chains make the page shorter. */
export const MAX_PAGE_BYTES = 2 * 1024 * 1024;

export function resultRecord(row: ResultRow): ResultRecord {
  return {
    ...row,
    epsilon: row.epsilon ?? undefined,
    k: row.K ?? undefined,
    alpha: row.alpha ?? undefined,
    epsilon0: row.epsilon0 ?? undefined,
    batch: row.batch ?? undefined,
    smoothness: row.smoothness ?? "",
    fusedColumns: row.fusedColumns ?? undefined,
  };
}

const encodedBytes = (records: ResultRecord[]) =>
  records.reduce((sum, r) => sum + ResultRecord.encode(r).finish().byteLength + 4, 0);

/** One page of `sweep`'s results; `info` turns the sweep into the response's SweepInfo. */
export async function queryResultsPage(
  store: Store,
  sweep: SweepSummary,
  request: QueryResultsRequest,
  info: (s: SweepSummary) => SweepInfo,
): Promise<QueryResultsResponse> {
  let limit = Math.min(request.pageSize || MAX_PAGE_ROWS, MAX_PAGE_ROWS);
  const after = request.pageToken || undefined;
  for (;;) {
    let page: Awaited<ReturnType<Store["sweepResultsPage"]>>;
    try {
      page = await store.sweepResultsPage(sweep.id, { after, limit });
    } catch (error) {
      if (/not a page cursor/.test((error as Error).message))
        throw new RequestError(`page_token: ${(error as Error).message}`, "invalid");
      throw error;
    }
    const rows = sortResultRows(page.rows).map(resultRecord);
    // Halving until the page fits: only sweeps of thousands of chains per job get here.
    if (limit > 1 && encodedBytes(rows) > MAX_PAGE_BYTES) {
      limit = Math.ceil(limit / 2);
      continue;
    }
    return { sweep: info(sweep), rows, nextPageToken: page.next ?? "" };
  }
}
