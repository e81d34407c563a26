/** The chains bucket's bounds, on a real nats-server with JetStream: set on creation and on an old bucket. */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect, nanos } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHAINS_BUCKET } from "./names.ts";
import { chainsBucketLimits, DEFAULT_CHAINS_LIMITS, provision } from "./setup.ts";

const dir = mkdtempSync(join(tmpdir(), "unlearn-setup-"));
let server: ReturnType<typeof spawn>;
let url: string;

beforeAll(async () => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  server = spawn("/usr/sbin/nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  server.stderr!.on("data", (d) => (log += d));
  for (let i = 0; i < 100 && !/Server is ready/.test(log); i++) await new Promise((r) => setTimeout(r, 100));
  url = `nats://127.0.0.1:${port}`;
}, 30_000);

afterAll(() => {
  if (server?.pid) process.kill(server.pid, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("the chains bucket", () => {
  it("gets its bounds when provisioned, also when it was made without them", async () => {
    const nc = await connect({ servers: url });
    try {
      // A bucket as an older coordinator made it: no size limit, no TTL.
      await new Objm(nc).create(CHAINS_BUCKET);
      const jsm = await jetstreamManager(nc);
      const limits = { engines: ["reference"], limits: { ackWaitMs: 30_000, maxDeliver: 3 } };
      await provision(nc, { ...limits, chains: { maxBytes: 64 * 1024 * 1024, ttlMs: 3_600_000 } });
      const { config } = await jsm.streams.info(`OBJ_${CHAINS_BUCKET}`);
      expect(config.max_bytes).toBe(64 * 1024 * 1024);
      expect(config.max_age).toBe(nanos(3_600_000));
      // The environment's bounds by default; a bad value names its variable.
      await provision(nc, limits);
      const again = await jsm.streams.info(`OBJ_${CHAINS_BUCKET}`);
      expect(again.config.max_bytes).toBe(DEFAULT_CHAINS_LIMITS.maxBytes);
    } finally {
      await nc.close();
    }
  }, 30_000);

  it("CHAINS_BUCKET_MAX_BYTES / CHAINS_BUCKET_TTL_MS set the bounds; bad values name the variable", () => {
    expect(
      chainsBucketLimits({ CHAINS_BUCKET_MAX_BYTES: "2147483648", CHAINS_BUCKET_TTL_MS: "600000" }),
    ).toEqual({
      maxBytes: 2 ** 31,
      ttlMs: 600_000,
    });
    expect(() => chainsBucketLimits({ CHAINS_BUCKET_TTL_MS: "5" })).toThrow(
      /CHAINS_BUCKET_TTL_MS: expected an integer ≥ 60000, got "5"/,
    );
    expect(() => chainsBucketLimits({ CHAINS_BUCKET_MAX_BYTES: "lots" })).toThrow(/CHAINS_BUCKET_MAX_BYTES/);
  });
});
