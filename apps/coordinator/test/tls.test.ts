/**
 * The coordinator's optional TLS (GRPC_TLS_CERT / GRPC_TLS_KEY) with a self-signed certificate: a
 * grpcs:// client trusting it (UNLEARN_COORDINATOR_CA) is served, a plaintext one is not; and a
 * coordinator without COORDINATOR_TOKEN, or with one under 16 characters, refuses to start (exit 2,
 * naming the variable).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectCoordinator } from "@unlearn/cluster";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOKEN } from "./cluster.ts";
import {
  createDatabase,
  freePort,
  Nats,
  type Proc,
  spawnCoordinator,
  spawnProc,
  waitFor,
} from "./harness.ts";

let nats: Nats;
let db: { url: string; drop(): void };
let coordinator: Proc;
let port: number;
const dir = mkdtempSync(join(tmpdir(), "unlearn-tls-"));
const cert = join(dir, "cert.pem");
const key = join(dir, "key.pem");

beforeAll(async () => {
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  nats = await Nats.start();
  db = createDatabase();
  port = await freePort();
  coordinator = spawnCoordinator({
    NATS_URL: nats.url,
    DATABASE_URL: db.url,
    GRPC_ADDR: `127.0.0.1:${port}`,
    COORDINATOR_TOKEN: TOKEN,
    GRPC_TLS_CERT: cert,
    GRPC_TLS_KEY: key,
  });
  await waitFor(
    "the coordinator to listen",
    () => /listening on .*\(TLS\)/.test(coordinator.output()) && /active: serving/.test(coordinator.output()),
    60_000,
  );
});

afterAll(async () => {
  coordinator?.kill();
  await coordinator?.exited;
  await nats?.stop();
  db?.drop();
});

describe("the coordinator over TLS", () => {
  it("serves a client that trusts its certificate, and not a plaintext one", async () => {
    const secure = connectCoordinator(`grpcs://127.0.0.1:${port}`, TOKEN, { UNLEARN_COORDINATOR_CA: cert });
    expect(await secure.call("listSweeps", {})).toEqual({ sweeps: [] });
    secure.close();
    const plain = connectCoordinator(`127.0.0.1:${port}`, TOKEN);
    await expect(plain.call("listSweeps", {})).rejects.toMatchObject({ code: 14 });
    plain.close();
    const results = spawnProc(
      [
        "--import",
        "tsx",
        "apps/cli/src/main.ts",
        "results",
        "--coordinator",
        `grpcs://127.0.0.1:${port}`,
        "--token",
        TOKEN,
      ],
      { UNLEARN_COORDINATOR_CA: cert },
      "cli",
    );
    expect(await results.exited).toBe(0);
    expect(results.output()).toMatch(/no sweeps stored in coordinator grpcs:\/\/127\.0\.0\.1:\d+/);
  });

  it("will not start without COORDINATOR_TOKEN", async () => {
    const bare = spawnCoordinator({
      NATS_URL: nats.url,
      DATABASE_URL: db.url,
      GRPC_ADDR: `127.0.0.1:${await freePort()}`,
      COORDINATOR_TOKEN: "",
    });
    expect(await bare.exited).toBe(2);
    expect(bare.output()).toMatch(/COORDINATOR_TOKEN is required/);
  });

  it("will not start with a token shorter than 16 characters", async () => {
    const short = spawnCoordinator({
      NATS_URL: nats.url,
      DATABASE_URL: db.url,
      GRPC_ADDR: `127.0.0.1:${await freePort()}`,
      COORDINATOR_TOKEN: "short-token",
    });
    expect(await short.exited).toBe(2);
    expect(short.output()).toMatch(/COORDINATOR_TOKEN must be at least 16 characters \(got 11\)/);
  });
});
