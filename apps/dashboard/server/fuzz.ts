/**
 * Malformed HTTP requests for the dashboard's fuzz tests (guard.test.ts against the guard, the e2e
 * test against the real server): seeded, so a failure names a request that can be sent again.
 */
import { connect } from "node:net";

/** mulberry32: a small seeded generator; the same seed gives the same requests. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  "%",
  "%E0%A4%A",
  "%zz",
  "%00",
  "%2e%2e/",
  "../",
  "//",
  "//[",
  "[",
  "]",
  "\\",
  "?",
  "#",
  "&",
  "=",
  ";",
  "\u00ff",
  "\u2028",
  "\ud800",
  "😀",
  "\t",
  " ",
  '"',
  "'",
  "<script>",
  "{{x}}",
  "*",
  "@",
  ":",
  "%%",
  "sweeps",
  "api",
  "results.csv",
  "accountant",
  "figures",
  "workers",
  "_next",
  "static",
  "token",
];

function pick<T>(rnd: () => number, list: readonly T[]): T {
  return list[Math.floor(rnd() * list.length)]!;
}

function junk(rnd: () => number, max: number): string {
  let out = "";
  const n = Math.floor(rnd() * max);
  for (let i = 0; i < n; i++) {
    // Mostly pieces that parse as HTTP but trouble a URL or cookie decoder; now and then any byte.
    const roll = rnd();
    out +=
      roll < 0.8
        ? pick(rnd, PIECES)
        : roll < 0.97
          ? String.fromCharCode(0x21 + Math.floor(rnd() * 94))
          : String.fromCharCode(Math.floor(rnd() * 0x7f));
  }
  return out;
}

/** A path: usually routable-looking, often with bad escapes, sometimes not a path at all. */
function path(rnd: () => number): string {
  const roll = rnd();
  if (roll < 0.1) return junk(rnd, 12).replace(/[\r\n ]/g, "") || "*";
  if (roll < 0.15) return `http://${junk(rnd, 4).replace(/[\r\n /]/g, "")}/`;
  const base = `/${pick(rnd, ["", "sweeps/", "api/sweeps/", "api/accountant", "api/results.csv", "results", "figures"])}`;
  const query = rnd() < 0.5 ? `?${junk(rnd, 6)}=${junk(rnd, 6)}&token=${junk(rnd, 3)}` : "";
  return `${base}${junk(rnd, 6)}${query}`.replace(/[\r\n ]/g, "");
}

const METHODS = [
  "GET",
  "GET",
  "GET",
  "GET",
  "GET",
  "GET",
  "GET",
  "GET",
  "POST",
  "HEAD",
  "PUT",
  "DELETE",
  "OPTIONS",
  "TRACE",
  "CONNECT",
  "G E T",
  "",
  "get",
];
const VERSIONS = [
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.0",
  "HTTP/2.0",
  "HTTP/9",
  "HTTPS/1.1",
  "",
  "HTTP/1.1 x",
];

/** One malformed (or merely odd) request, bytes as sent; always ends its head with CRLF CRLF. */
export function malformedRequest(rnd: () => number, host: string): string {
  const lines = [`${pick(rnd, METHODS)} ${path(rnd)} ${pick(rnd, VERSIONS)}`];
  const hostRoll = rnd();
  if (hostRoll < 0.7) lines.push(`Host: ${host}`);
  else if (hostRoll < 0.8) lines.push(`Host: ${junk(rnd, 5).replace(/[\r\n]/g, "")}`);
  else if (hostRoll < 0.9) lines.push("Host: evil.example", `Host: ${host}`);
  const headers = Math.floor(rnd() * 4);
  for (let i = 0; i < headers; i++) {
    const kind = rnd();
    if (kind < 0.4) lines.push(`Cookie: unlearn_dashboard=${junk(rnd, 5).replace(/[\r\n]/g, "")}`);
    else if (kind < 0.55)
      lines.push(
        `Authorization: ${pick(rnd, ["Basic", "Bearer", "Digest", ""])} ${junk(rnd, 5).replace(/[\r\n]/g, "")}`,
      );
    else if (kind < 0.7)
      lines.push(`${junk(rnd, 3).replace(/[\r\n:]/g, "") || "X"}: ${junk(rnd, 4).replace(/[\r\n]/g, "")}`);
    else if (kind < 0.8)
      lines.push(`Content-Length: ${pick(rnd, ["-1", "abc", "99999999999999999999", "0", "1, 2"])}`);
    else if (kind < 0.9)
      lines.push(`Transfer-Encoding: ${pick(rnd, ["chunked", "gzip", "chunked, chunked", "x"])}`);
    else lines.push(junk(rnd, 4).replace(/[\r\n]/g, ""));
  }
  return `${lines.join("\r\n")}\r\n\r\n`;
}

export interface Answer {
  /** the status code, or what happened instead ("closed": the server closed without a status line) */
  status: string;
  ms: number;
}

/**
 * Sends `request` on a fresh connection to 127.0.0.1:port and resolves with the status of the answer
 * (from its first line) and how long it took; "timeout" when nothing came within `limitMs`.
 */
export function send(port: number, request: string, limitMs: number): Promise<Answer> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let head = "";
    const finish = (status: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish("timeout"), limitMs);
    socket.on("connect", () => socket.end(Buffer.from(request, "utf8")));
    socket.on("data", (d) => {
      head += d.toString("latin1");
      const line = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (line) finish(line[1]!);
      else if (head.length > 64) finish(`garbage ${JSON.stringify(head.slice(0, 20))}`);
    });
    socket.on("error", () => finish("closed"));
    socket.on("close", () => finish(head ? `garbage ${JSON.stringify(head.slice(0, 20))}` : "closed"));
  });
}

/**
 * Sends `count` malformed requests (seeded), `parallel` at a time; every answer in the result.
 * Bounded in time too: it stops starting requests after `budgetMs`.
 */
export async function fuzz(
  port: number,
  options: { count: number; seed: number; parallel?: number; limitMs?: number; budgetMs?: number },
): Promise<{ request: string; answer: Answer }[]> {
  const rnd = random(options.seed);
  const requests = Array.from({ length: options.count }, () => malformedRequest(rnd, `127.0.0.1:${port}`));
  const out: { request: string; answer: Answer }[] = [];
  const until = Date.now() + (options.budgetMs ?? 60_000);
  let next = 0;
  const lane = async () => {
    while (next < requests.length && Date.now() < until) {
      const request = requests[next++]!;
      out.push({ request, answer: await send(port, request, options.limitMs ?? 1000) });
    }
  };
  await Promise.all(Array.from({ length: options.parallel ?? 16 }, lane));
  return out;
}
