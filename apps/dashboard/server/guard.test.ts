import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, test } from "vitest";
import { fuzz, send } from "./fuzz.ts";
import { allowedHosts, answerAll, guard, type Handler, hostAllowed } from "./guard.ts";

const TOKEN = "fuzz-token-0123456789abcdef";
let server: Server | undefined;
const logged: string[] = [];

/**
 * An app handler with the faults a real one can have: it decodes every path segment and query value
 * (throws on a bad escape), fails asynchronously on /api/…?fail, throws on /boom.
 */
const app: Handler = async (req, res) => {
  const url = new URL(req.url!, "http://x");
  if (url.pathname === "/boom") throw new Error("thrown by the app");
  for (const part of url.pathname.split("/")) decodeURIComponent(part);
  for (const [, v] of url.searchParams) JSON.stringify(decodeURIComponent(encodeURIComponent(v)));
  await new Promise((r) => setImmediate(r));
  if (url.pathname.startsWith("/api") && url.searchParams.has("fail")) throw new Error("rejected by the app");
  res.end("ok");
};

async function start(token?: string): Promise<number> {
  server = createServer(guard(app, { token, hosts: allowedHosts("127.0.0.1"), log: (t) => logged.push(t) }));
  answerAll(server);
  await new Promise<void>((ok) => server!.listen(0, "127.0.0.1", ok));
  return (server.address() as { port: number }).port;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((ok) => server?.close(() => ok()) ?? ok());
  server = undefined;
});

describe("the dashboard's front door", () => {
  test("answers the requests that hung it: a bad cookie, a bad request line, a bad path", async () => {
    const port = await start(TOKEN);
    const host = `Host: 127.0.0.1:${port}`;
    const cases = [
      `GET / HTTP/1.1\r\n${host}\r\nCookie: unlearn_dashboard=%\r\n\r\n`,
      `GET //[ HTTP/1.1\r\n${host}\r\n\r\n`,
      `GET /sweeps/% HTTP/1.1\r\n${host}\r\nCookie: unlearn_dashboard=%E0%A4%A\r\n\r\n`,
    ];
    const answers = await Promise.all(cases.map((r) => send(port, r, 1000)));
    expect(answers.map((a) => a.status)).toEqual(["401", "400", "400"]);
  });

  test("turns an app's thrown or rejected error into a 500 at once, and logs it", async () => {
    const port = await start();
    const host = `Host: 127.0.0.1:${port}`;
    const thrown = await send(port, `GET /boom HTTP/1.1\r\n${host}\r\n\r\n`, 1000);
    const rejected = await send(port, `GET /api/x?fail HTTP/1.1\r\n${host}\r\n\r\n`, 1000);
    expect([thrown.status, rejected.status]).toEqual(["500", "500"]);
    expect(logged.join("")).toMatch(/thrown by the app[\s\S]*rejected by the app/);
  });

  test("answers only Host names it serves (DNS rebinding): localhost, IP literals, --host, DASHBOARD_HOSTS", async () => {
    const hosts = allowedHosts("dash.lan", ["Extra.Example"]);
    for (const ok of [
      "localhost:3000",
      "127.0.0.1",
      "[::1]:80",
      "10.1.2.3:3000",
      "dash.lan",
      "extra.example:1",
      undefined,
    ]) {
      expect(hostAllowed(ok, hosts), String(ok)).toBe(true);
    }
    for (const bad of [
      "evil.example",
      "evil.example:3000",
      "localhost.evil.example",
      "127.0.0.1.nip.io",
      "[evil]",
      "a b",
      "dash.lan:99999x",
    ]) {
      expect(hostAllowed(bad, hosts), bad).toBe(false);
    }
    // Listening on every address behind a token: any name (the token is what protects it there).
    expect(allowedHosts("0.0.0.0", [], "a-token-0123456789")).toBeNull();
    expect(
      hostAllowed("dashboard.svc.cluster.local", allowedHosts("0.0.0.0", [], "a-token-0123456789")),
    ).toBe(true);
    expect(hostAllowed("evil.example", allowedHosts("0.0.0.0", []))).toBe(false);
    const port = await start();
    // fetch sets Host itself; a raw request sends what a rebinding browser would.
    const rebound = await send(port, "GET / HTTP/1.1\r\nHost: attacker.example:80\r\n\r\n", 1000);
    const local = await send(port, `GET / HTTP/1.1\r\nHost: localhost:${port}\r\n\r\n`, 1000);
    expect([rebound.status, local.status]).toEqual(["403", "200"]);
  });

  test("fuzz: 3000 malformed requests with a token set each get a 4xx within a second, and it still serves", async () => {
    const port = await start(TOKEN);
    const started = Date.now();
    const results = await fuzz(port, {
      count: 3000,
      seed: 16,
      parallel: 16,
      limitMs: 1000,
      budgetMs: 60_000,
    });
    const elapsed = Date.now() - started;
    expect(results.length).toBe(3000);
    const bad = results.filter((r) => !/^4\d\d$/.test(r.answer.status) || r.answer.ms >= 1000);
    expect(bad.slice(0, 5).map((r) => [r.answer, r.request])).toEqual([]);
    const ok = await fetch(`http://127.0.0.1:${port}/results?x=1`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect([ok.status, await ok.text()]).toEqual([200, "ok"]);
    process.stderr.write(
      `guard fuzz: 3000 requests in ${elapsed} ms, slowest ${Math.max(...results.map((r) => r.answer.ms))} ms\n`,
    );
  }, 90_000);

  test("fuzz without a token: every request gets a status within a second (2xx, 4xx or the app's 500)", async () => {
    const port = await start();
    const results = await fuzz(port, {
      count: 1500,
      seed: 61,
      parallel: 16,
      limitMs: 1000,
      budgetMs: 60_000,
    });
    expect(results.length).toBe(1500);
    const bad = results.filter((r) => !/^[245]\d\d$/.test(r.answer.status) || r.answer.ms >= 1000);
    expect(bad.slice(0, 5).map((r) => [r.answer, r.request])).toEqual([]);
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
  }, 90_000);
});
