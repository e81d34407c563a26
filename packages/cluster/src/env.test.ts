import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ClusterConfigError, connectNats, natsSettings } from "./env.ts";

describe("natsSettings", () => {
  it("moves credentials out of NATS_URL, so the servers it prints carry no password", () => {
    expect(
      natsSettings({ NATS_URL: "nats://unlearn:s%40cret@h:4222,nats://unlearn:s%40cret@g:4222" }),
    ).toEqual({
      servers: ["nats://h:4222", "nats://g:4222"],
      user: "unlearn",
      password: "s@cret",
      credsFile: undefined,
    });
    expect(() => natsSettings({ NATS_URL: "nats://a:b@h:1", NATS_USER: "u", NATS_PASSWORD: "p" })).toThrow(
      /credentials in the URL go with no NATS_USER/,
    );
  });

  it("reads NATS_URL (comma-separated), NATS_USER/NATS_PASSWORD and NATS_CREDS", () => {
    expect(natsSettings({})).toEqual({
      servers: ["nats://127.0.0.1:4222"],
      user: undefined,
      password: undefined,
      credsFile: undefined,
    });
    expect(
      natsSettings({ NATS_URL: "nats://a:1, nats://b:2", NATS_USER: "u", NATS_PASSWORD: "p" }),
    ).toMatchObject({
      servers: ["nats://a:1", "nats://b:2"],
      user: "u",
      password: "p",
    });
    expect(natsSettings({ NATS_CREDS: "/x.creds" }).credsFile).toBe("/x.creds");
  });

  it("names the bad variable", () => {
    expect(() => natsSettings({ NATS_URL: "http://x/y" })).toThrow(/NATS_URL/);
    expect(() => natsSettings({ NATS_USER: "u" })).toThrow(/NATS_USER and NATS_PASSWORD/);
    expect(() => natsSettings({ NATS_USER: "u", NATS_PASSWORD: "p", NATS_CREDS: "/c" })).toThrow(
      ClusterConfigError,
    );
  });

  it("connects with a user and password, and refuses wrong ones, against a real nats-server", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const dir = mkdtempSync(join(tmpdir(), "unlearn-nats-auth-"));
    const conf = join(dir, "nats.conf");
    writeFileSync(
      conf,
      `listen: "127.0.0.1:${port}"\nauthorization { user: "unlearn", password: "s3cret" }\n`,
    );
    const server = spawn("/usr/sbin/nats-server", ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    server.stderr!.on("data", (d) => (log += d));
    try {
      for (let i = 0; i < 100 && !/Server is ready/.test(log); i++)
        await new Promise((r) => setTimeout(r, 100));
      const url = `nats://127.0.0.1:${port}`;
      const nc = await connectNats(
        natsSettings({ NATS_URL: url, NATS_USER: "unlearn", NATS_PASSWORD: "s3cret" }),
        "auth test",
      );
      expect(nc.info?.port).toBe(port);
      await nc.close();
      await expect(
        connectNats(
          natsSettings({ NATS_URL: url, NATS_USER: "unlearn", NATS_PASSWORD: "wrong" }),
          "auth test",
        ),
      ).rejects.toThrow(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: .*[Aa]uthorization/);
    } finally {
      server.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
