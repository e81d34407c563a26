import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { authorize, MIN_TOKEN_LENGTH, tokenProblem } from "./auth.ts";
import { parseOptions, UsageError } from "./main.ts";

const TOKEN = "s3cret-token-0123456789";
const env = (vars: Record<string, string>) => vars as unknown as NodeJS.ProcessEnv;
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (!authorize(TOKEN, req, res)) return;
    res.end("ok");
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address() as { port: number };
  base = `http://127.0.0.1:${address.port}`;
});

afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

describe("DASHBOARD_TOKEN", () => {
  test("a request without the token is refused with a basic-auth challenge", async () => {
    const res = await fetch(`${base}/figures`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Basic /);
  });

  test("basic auth with the token as password, or a bearer token, gets through", async () => {
    const basic = Buffer.from(`anyone:${TOKEN}`).toString("base64");
    expect((await fetch(base, { headers: { authorization: `Basic ${basic}` } })).status).toBe(200);
    expect((await fetch(base, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  test("a wrong token is refused, even one that shares a prefix", async () => {
    const basic = Buffer.from(`x:${TOKEN.slice(0, -1)}`).toString("base64");
    expect((await fetch(base, { headers: { authorization: `Basic ${basic}` } })).status).toBe(401);
    expect((await fetch(`${base}/?token=wrong`, { redirect: "manual" })).status).toBe(401);
  });

  test("?token= once sets an HttpOnly cookie and redirects to the same page without it", async () => {
    const res = await fetch(`${base}/results?sweep=ab&token=${TOKEN}`, { redirect: "manual" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/results?sweep=ab");
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly/);
    const again = await fetch(`${base}/results`, { headers: { cookie: cookie.split(";")[0] } });
    expect(again.status).toBe(200);
  });

  test("without a token configured every request passes", async () => {
    const open = createServer((req, res) => {
      if (authorize(undefined, req, res)) res.end("ok");
    });
    await new Promise<void>((ok) => open.listen(0, "127.0.0.1", ok));
    const { port } = open.address() as { port: number };
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    await new Promise<void>((ok) => open.close(() => ok()));
  });

  test("the cookie lasts a week (Max-Age) and is Secure when the request came over TLS (X-Forwarded-Proto)", async () => {
    const plain = await fetch(`${base}/?token=${TOKEN}`, { redirect: "manual" });
    expect(plain.headers.get("set-cookie")).toMatch(/; Max-Age=604800$/);
    const proxied = await fetch(`${base}/?token=${TOKEN}`, {
      redirect: "manual",
      headers: { "x-forwarded-proto": "https" },
    });
    expect(proxied.headers.get("set-cookie")).toMatch(/; Max-Age=604800; Secure$/);
  });

  test("a cookie that does not percent-decode is no token (401), and ?token= never redirects off the site", async () => {
    expect((await fetch(base, { headers: { cookie: "unlearn_dashboard=%E0%A4%A" } })).status).toBe(401);
    // "/.//evil.example/x" has the pathname "//evil.example/x": as a Location, another site. (Sent raw:
    // fetch would normalise the path first.)
    const port = Number(new URL(base).port);
    const head = await new Promise<string>((done) => {
      const socket = connect(port, "127.0.0.1", () =>
        socket.write(`GET /.//evil.example/x?token=${TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`),
      );
      socket.once("data", (d) => {
        done(d.toString("latin1"));
        socket.destroy();
      });
    });
    expect(head).toMatch(/^HTTP\/1\.1 303 /);
    expect(head).toMatch(/\r\nlocation: \/evil\.example\/x\r\n/i);
  });

  test(`DASHBOARD_TOKEN shorter than ${MIN_TOKEN_LENGTH} characters is refused at start, saying how to make one`, () => {
    expect(tokenProblem("x".repeat(MIN_TOKEN_LENGTH))).toBeNull();
    expect(() => parseOptions([], env({ DASHBOARD_TOKEN: "short" }))).toThrow(UsageError);
    expect(() => parseOptions([], env({ DASHBOARD_TOKEN: "short" }))).toThrow(
      /at least 16 characters \(got 5\).*openssl rand/,
    );
    expect(
      parseOptions([], env({ DASHBOARD_TOKEN: TOKEN, DASHBOARD_HOSTS: "dash.lan, x.example" })),
    ).toMatchObject({
      token: TOKEN,
      hosts: ["dash.lan", "x.example"],
    });
  });
});
