import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { authorize } from "./auth.ts";

const TOKEN = "s3cret-token";
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
});
