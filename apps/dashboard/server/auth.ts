/**
 * DASHBOARD_TOKEN: when set, every request must carry it, as HTTP basic auth (any user name, the token
 * as password: curl -u :TOKEN), as a bearer token, or in the cookie set by visiting once with ?token=….
 * Whatever a request carries (a cookie that does not percent-decode, a URL that does not parse), the
 * answer is a 401 or a redirect, never a throw.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

const COOKIE = "unlearn_dashboard";

/** The shortest DASHBOARD_TOKEN accepted: 16 characters of a random token are beyond guessing over HTTP. */
export const MIN_TOKEN_LENGTH = 16;

/** Why `token` is unfit as DASHBOARD_TOKEN, or null when it is fit. */
export function tokenProblem(token: string): string | null {
  if (token.length < MIN_TOKEN_LENGTH) {
    return `DASHBOARD_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters (got ${token.length}); make one with: openssl rand -hex 16`;
  }
  return null;
}

export interface CookieOptions {
  /** how long the browser keeps the cookie, in seconds (default 7 days) */
  maxAgeSeconds?: number;
}

const WEEK_SECONDS = 7 * 24 * 3600;

/**
 * The cookie is Secure when the request came over TLS: to this server directly, or through a proxy
 * that says so (X-Forwarded-Proto: https; trusting it can only make the cookie stricter).
 */
function cookieFor(token: string, req: IncomingMessage, options: CookieOptions): string {
  const tls =
    (req.socket as { encrypted?: boolean }).encrypted === true ||
    /^https$/i.test(
      String(req.headers["x-forwarded-proto"] ?? "")
        .split(",")[0]!
        .trim(),
    );
  const maxAge = options.maxAgeSeconds ?? WEEK_SECONDS;
  return `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}${tls ? "; Secure" : ""}`;
}

function decoded(value: string): string | null {
  try {
    return decodeURIComponent(value);
  } catch {
    return null; // not a cookie this dashboard set
  }
}
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
    const token = name === COOKIE ? decoded(value.join("=")) : null;
    if (token !== null) out.push(token);
  }
  return out;
}

/**
 * Lets the request through (true) or answers it (false): 401 asking for basic auth, or a redirect that
 * sets the cookie when the URL carries the right ?token=.
 */
export function authorize(
  token: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  cookie: CookieOptions = {},
): boolean {
  if (!token) return true;
  let url: URL | null = null;
  try {
    url = new URL(req.url ?? "/", "http://localhost");
  } catch {
    // Not a URL: no ?token= in it; the request is judged by its headers alone.
  }
  const fromQuery = url?.searchParams.get("token") ?? null;
  if (url && fromQuery !== null && same(fromQuery, token)) {
    url.searchParams.delete("token");
    res.writeHead(303, {
      // One leading slash: "//evil.example" would be a redirect to another site.
      location: `/${url.pathname.replace(/^\/+/, "")}${url.search}`,
      "set-cookie": cookieFor(token, req, cookie),
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
