/**
 * DASHBOARD_TOKEN: when set, every request must carry it, as HTTP basic auth (any user name, the token
 * as password: curl -u :TOKEN), as a bearer token, or in the cookie set by visiting once with ?token=….
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

const COOKIE = "unlearn_dashboard";

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The token a request presents, from any of the accepted places. */
export function presentedTokens(req: IncomingMessage): string[] {
  const out: string[] = [];
  const header = req.headers.authorization ?? "";
  const basic = /^Basic\s+(.+)$/i.exec(header);
  if (basic) {
    const decoded = Buffer.from(basic[1], "base64").toString("utf8");
    out.push(decoded.slice(decoded.indexOf(":") + 1));
  }
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer) out.push(bearer[1].trim());
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === COOKIE) out.push(decodeURIComponent(value.join("=")));
  }
  return out;
}

/**
 * Lets the request through (true) or answers it (false): 401 asking for basic auth, or a redirect that
 * sets the cookie when the URL carries the right ?token=.
 */
export function authorize(token: string | undefined, req: IncomingMessage, res: ServerResponse): boolean {
  if (!token) return true;
  const url = new URL(req.url ?? "/", "http://localhost");
  const fromQuery = url.searchParams.get("token");
  if (fromQuery !== null && same(fromQuery, token)) {
    url.searchParams.delete("token");
    res.writeHead(303, {
      location: `${url.pathname}${url.search}`,
      "set-cookie": `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
    });
    res.end();
    return false;
  }
  if (presentedTokens(req).some((t) => same(t, token))) return true;
  res.writeHead(401, {
    "www-authenticate": 'Basic realm="unlearn-sweep dashboard", charset="UTF-8"',
    "content-type": "text/plain; charset=utf-8",
  });
  res.end("this dashboard needs its DASHBOARD_TOKEN: as the basic-auth password, or once as ?token=…\n");
  return false;
}
