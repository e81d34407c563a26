/**
 * `pnpm coordinator nats-config`: the block it prints holds no password, only references to the
 * nats-server process's variables; its arguments are checked, naming the bad one. (What the users
 * may and may not do is tested against a real nats-server in nats-auth.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { natsAuthorization, natsConfigOptions, passwordVariable } from "../src/nats-config.ts";
import { spawnProc } from "./harness.ts";

describe("nats-config", () => {
  it("prints a coordinator and a worker user by default, passwords as variable references", async () => {
    const proc = spawnProc(
      ["--import", "tsx", "apps/coordinator/src/main.ts", "nats-config"],
      {},
      "nats-config",
    );
    let stdout = "";
    proc.child.stdout!.on("data", (d) => (stdout += d));
    expect(await proc.exited).toBe(0);
    expect(stdout).toMatch(/^authorization \{$/m);
    expect(stdout).toMatch(/user: "coordinator"\n\s+password: \$NATS_COORDINATOR_PASSWORD\n/);
    expect(stdout).toMatch(/user: "worker"\n\s+password: \$NATS_WORKER_PASSWORD\n/);
    expect(stdout).toContain('"_INBOX_worker.>"');
    expect(stdout).toContain('"unlearn.workers.worker"');
    expect(stdout).not.toMatch(/password: "/);
  });

  it("gives each named worker its own variable, inbox and heartbeat subject", () => {
    const text = natsAuthorization(natsConfigOptions(["--worker", "worker-gpu1", "--worker", "worker-b"]));
    expect(passwordVariable("worker-gpu1", "worker")).toBe("NATS_WORKER_GPU1_PASSWORD");
    expect(text).toContain("password: $NATS_WORKER_GPU1_PASSWORD");
    expect(text).toContain('"_INBOX_worker-b.>"');
    expect(text).toContain('"unlearn.workers.worker-gpu1"');
    expect(text).not.toContain('"unlearn.workers.worker"');
  });

  it("names a bad argument or user", () => {
    expect(() => natsConfigOptions(["--workers", "a"])).toThrow(/unknown or incomplete argument "--workers"/);
    expect(() => natsConfigOptions(["--worker"])).toThrow(/incomplete argument "--worker"/);
    expect(() => natsAuthorization(natsConfigOptions(["--worker", "a.b"]))).toThrow(/got "a\.b"/);
    expect(() => natsAuthorization(natsConfigOptions(["--worker", "anonymous"]))).toThrow(/reserved/);
    expect(() => natsAuthorization(natsConfigOptions(["--worker", "coordinator"]))).toThrow(/must differ/);
  });
});
