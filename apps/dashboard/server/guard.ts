/**
 * The dashboard's front door: every request is answered, at once, whatever it carries. A request the
 * app could not route (a request line that is no URL, a path that does not percent-decode) gets a 400,
 * one for a Host this dashboard does not serve gets a 403 (DNS rebinding: a page on evil.example whose
 * name is made to point at 127.0.0.1 sends `Host: evil.example`), and any error thrown or rejected by
 * the auth check or the app becomes a 500. Nothing reaches Node's uncaught-exception path, so no
 * socket is left waiting for its request timeout.
 */

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { isIP } from "node:net";
import type { Duplex } from "node:stream";
import { authorize, type CookieOptions } from "./auth.ts";

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface GuardOptions {
  /** DASHBOARD_TOKEN, when set */
  token?: string;
  /** the names (besides localhost and IP literals) a browser may use to reach this dashboard; null: any */
  hosts: string[] | null;
  cookie?: CookieOptions;
  log: (text: string) => void;
}

/**
 * The Host names a dashboard bound to `bind` answers: localhost, `bind` itself, and `extra`; null (any
 * name) when it listens on every address behind a token. DNS rebinding is what the check stops, and
 * behind a token a rebound page gets nothing: the token, the basic-auth credentials and the cookie all
 * belong to the dashboard's own origin. An exposed dashboard is reached by names it cannot know
 * (an ingress, a service name), so there the check would only get in the way.
 */
export function allowedHosts(bind: string, extra: string[] = [], token?: string): string[] | null {
  if (token && (bind === "0.0.0.0" || bind === "::")) return null;
  const names = ["localhost", bind, ...extra].map((h) => h.trim().toLowerCase()).filter(Boolean);
  return [...new Set(names)];
}

/**
 * Whether a Host header names this dashboard. IP literals always do: DNS rebinding needs a name the
 * attacker controls, and a browser sends a literal only when the user typed one. No Host at all
 * (HTTP/1.0, some health checks) comes from no browser either.
 */
export function hostAllowed(header: string | undefined, hosts: string[] | null): boolean {
  if (hosts === null || header === undefined || header === "") return true;
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::\d{1,5})?$/i.exec(header.trim());
  if (!match) return false;
  const name = match[1]!.toLowerCase();
  if (name.startsWith("[")) return isIP(name.slice(1, -1)) === 6;
  if (isIP(name) === 4) return true;
  return hosts.includes(name.replace(/\.$/, ""));
}

/** The request's path could be routed: origin-form, a URL, and every %-escape decodes. */
function routable(url: string | undefined): boolean {
  if (!url?.startsWith("/")) return false;
  try {
    const parsed = new URL(url, "http://localhost");
    decodeURIComponent(parsed.pathname);
    return true;
  } catch {
    return false;
  }
}

function answer(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", connection: "close" });
  res.end(`${text}\n`);
}

/** Wraps the app's handler so that every request gets an answer, and only Hosts it serves. */
export function guard(handle: Handler, options: GuardOptions): Handler {
  const fail = (req: IncomingMessage, res: ServerResponse, error: unknown) => {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    options.log(`dashboard: ${JSON.stringify(req.url ?? "")}: ${text}\n`);
    answer(res, 500, "internal error (see the dashboard's log)");
  };
  return (req, res) => {
    try {
      if (!routable(req.url)) return answer(res, 400, "bad request: the path is not a valid URL path");
      if (!hostAllowed(req.headers.host, options.hosts)) {
        return answer(
          res,
          403,
          "this dashboard does not answer to that Host name (start it with --host NAME or DASHBOARD_HOSTS=NAME to allow one)",
        );
      }
      if (!authorize(options.token, req, res, options.cookie)) return;
      const done = handle(req, res);
      if (done) done.catch((error: unknown) => fail(req, res, error));
    } catch (error) {
      fail(req, res, error);
    }
  };
}

/**
 * What Node leaves unanswered: a CONNECT request (no 'connect' listener: the socket is just destroyed)
 * and an Upgrade one get a 405; a request Node cannot parse gets its 400 (or 431, 408) as by default.
 */
export function answerAll(server: Server): void {
  const refuse = (_req: IncomingMessage, socket: Duplex) => {
    socket.end("HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  };
  server.on("connect", refuse);
  server.on("upgrade", refuse);
  server.headersTimeout = 10_000; // a client sending its headers a byte a minute holds no socket long
  server.requestTimeout = 30_000;
}
