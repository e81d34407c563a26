/**
 * The kernel-held lock of a PGlite directory: real child processes race for it, die holding it, and
 * meet lock files that lie (a stepped clock, a dead pid, another user's file).
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DbLocationError, openStore } from "../src/index.ts";
import { claimDataDir, LockFileError, lockName } from "../src/lock.ts";
import { type Child, startChild } from "./processes.ts";

const root = mkdtempSync(join(tmpdir(), "unlearn-db-lock-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `db${n++}`);
const isRoot = process.getuid?.() === 0;

/** Sends a command line and waits for the child's next line matching `answer`. */
async function ask(child: Child, command: string, answer: RegExp): Promise<string> {
  const before = child.lines.length;
  const got = new Promise<string>((resolve, reject) => {
    const poll = setInterval(() => {
      const line = child.lines.slice(before).find((l) => answer.test(l));
      if (line) {
        clearInterval(poll);
        resolve(line);
      }
    }, 2);
    child.exited.then(() => {
      clearInterval(poll);
      reject(new Error(`claimer exited: ${child.stderr()}`));
    });
  });
  child.child.stdin!.write(`${command}\n`);
  return got;
}

describe("the lock of a PGlite directory", () => {
  it("has exactly one holder when three processes claim a directory at once, round after round", async () => {
    const claimers = [0, 1, 2].map(() => startChild("./claimer.ts", []));
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    try {
      for (let round = 0; round < 40; round++) {
        const dir = freshDir();
        // Every other round starts from a dead holder's lock file: the take-over race of the old
        // file lock (two processes both believed they held it).
        if (round % 2)
          writeFileSync(`${dir}.lock`, JSON.stringify({ pid: gone, host: hostname() }), { mode: 0o600 });
        const kinds = await Promise.all(claimers.map((c) => ask(c, `claim ${dir}`, new RegExp(` ${dir}$`))));
        expect(
          kinds.filter((k) => k.startsWith("held")),
          `round ${round}: ${kinds}`,
        ).toHaveLength(1);
        expect(kinds.filter((k) => k.startsWith("busy"))).toHaveLength(2);
        const holder = claimers[kinds.findIndex((k) => k.startsWith("held"))]!;
        await ask(holder, "release", /^released$/);
      }
    } finally {
      for (const c of claimers) c.child.stdin!.end();
      await Promise.all(claimers.map((c) => c.exited));
    }
  }, 120_000);

  it("is free the moment its holder is SIGKILLed, and the dead holder's lock file is replaced", async () => {
    const dir = freshDir();
    const holder = startChild("./claimer.ts", []);
    expect(await ask(holder, `claim ${dir}`, / /)).toBe(`held ${dir}`);
    await ask(holder, "publish postgres://postgres@/postgres?host=%2Fgone", /^published$/);
    const busy = await claimDataDir(dir);
    expect(busy).toMatchObject({ kind: "shared", holder: { pid: holder.child.pid } });
    holder.child.kill("SIGKILL");
    await holder.exited;
    const claim = await claimDataDir(dir);
    expect(claim.kind).toBe("held");
    const written = JSON.parse(readFileSync(`${dir}.lock`, "utf8"));
    expect(written).toMatchObject({ pid: process.pid, host: hostname() });
    expect(written.url).toBeUndefined();
    if (claim.kind === "held") await claim.lock.release();
  }, 60_000);

  it("does not read clocks or pids: a live holder whose lock file names a dead pid and a stepped clock still holds it", async () => {
    const dir = freshDir();
    const holder = startChild("./claimer.ts", []);
    try {
      await ask(holder, `claim ${dir}`, /^held /);
      // What a clock step or a reused pid looked like to the old lock: a start long after boot
      // (or before it) and a pid that is gone. The kernel hold does not care.
      const gone = spawnSync(process.execPath, ["-e", ""]).pid;
      for (const started of ["1970-01-01T00:00:00.000Z", "2999-01-01T00:00:00.000Z"]) {
        writeFileSync(`${dir}.lock`, JSON.stringify({ pid: gone, host: hostname(), started, nonce: "x" }), {
          mode: 0o600,
        });
        expect((await claimDataDir(dir)).kind).toBe("busy");
      }
    } finally {
      holder.child.stdin!.end();
      await holder.exited;
    }
    expect((await claimDataDir(dir)).kind).toBe("held");
  }, 60_000);

  it("names the directory by its real path: a symlinked alias gets the same lock", async () => {
    const dir = freshDir();
    const alias = join(root, `alias${n++}`);
    symlinkSync(root, alias);
    const name = dir.slice(root.length + 1);
    expect(lockName(join(alias, name))).toBe(lockName(dir));
    expect(lockName(dir)).not.toBe(lockName(freshDir()));
  });

  it("writes its lock file 0600", async () => {
    const dir = freshDir();
    const claim = await claimDataDir(dir);
    expect(claim.kind).toBe("held");
    expect(statSync(`${dir}.lock`).mode & 0o777).toBe(0o600);
    if (claim.kind === "held") {
      claim.lock.publish("postgres://postgres@/postgres?host=%2Fx");
      expect(statSync(`${dir}.lock`).mode & 0o777).toBe(0o600);
      await claim.lock.release();
    }
  });

  it("refuses a lock file that others can change, or a symbolic link, instead of following its address", async () => {
    const dir = freshDir();
    const holder = startChild("./claimer.ts", []);
    try {
      await ask(holder, `claim ${dir}`, /^held /);
      const planted = JSON.stringify({ pid: 1, host: hostname(), url: "postgres://evil@10.0.0.1:5432/x" });
      writeFileSync(`${dir}.lock`, planted);
      chmodSync(`${dir}.lock`, 0o666);
      await expect(claimDataDir(dir)).rejects.toThrow(/has mode 666: other users may read or change it/);
      rmSync(`${dir}.lock`);
      writeFileSync(join(root, "elsewhere"), planted, { mode: 0o600 });
      symlinkSync(join(root, "elsewhere"), `${dir}.lock`);
      await expect(claimDataDir(dir)).rejects.toThrow(/is a symbolic link: refused/);
      // openStore says it as a bad location, naming the file.
      const error = await openStore(dir, { waitMs: 1000 }).catch((e) => e);
      expect(error).toBeInstanceOf(DbLocationError);
      expect(error.message).toContain(`${dir}.lock`);
    } finally {
      holder.child.stdin!.end();
      await holder.exited;
    }
  }, 60_000);

  it.skipIf(!isRoot)(
    "refuses a lock file planted by another user, held or not (needs root to plant one)",
    async () => {
      const dir = freshDir();
      writeFileSync(
        `${dir}.lock`,
        JSON.stringify({ pid: 1, host: hostname(), url: "postgres://x@/y?host=%2Ftmp" }),
        {
          mode: 0o600,
        },
      );
      chownSync(`${dir}.lock`, 65534, 65534);
      const error = await claimDataDir(dir).catch((e) => e);
      expect(error).toBeInstanceOf(LockFileError);
      expect(error.message).toMatch(/belongs to user 65534, not to you \(uid 0\)/);
      // Refused without holding: a later claim is not blocked by the refused one.
      rmSync(`${dir}.lock`);
      const claim = await claimDataDir(dir);
      expect(claim.kind).toBe("held");
      if (claim.kind === "held") await claim.lock.release();
    },
  );
});
