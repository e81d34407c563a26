/** Child processes for the sharing tests: run a script under tsx and wait for a line it prints. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface Child {
  child: ChildProcess;
  /** every stdout line so far */
  lines: string[];
  /** Resolves with the first line that matches, rejects if the child exits first. */
  waitFor(pattern: RegExp): Promise<string>;
  /** Resolves with the exit code once the child has exited. */
  exited: Promise<number | null>;
  stderr(): string;
}

export function startChild(script: string, args: string[]): Child {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", path, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let buffered = "";
  let err = "";
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  child.stderr!.on("data", (d) => (err += d));
  child.stdout!.on("data", (d) => {
    buffered += d;
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    lines,
    exited,
    stderr: () => err,
    waitFor(pattern) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        exited.then((code) =>
          reject(new Error(`child ${script} exited (${code}) before printing ${pattern}: ${err}`)),
        );
      });
    },
  };
}

/**
 * Runs kill-writer.ts on the PGlite directory `dir` and SIGKILLs it mid-loop: once it has acknowledged
 * `afterAcks` writes (kill.test.ts), or `delayMs` after its first ack (durable.test.ts: each kill lands
 * somewhere else in a commit). Resolves with the job ids it acknowledged; rejects if it exits otherwise.
 */
export function killWriter(
  dir: string,
  when: { afterAcks: number } | { delayMs: number },
): Promise<string[]> {
  const writer = fileURLToPath(new URL("./kill-writer.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", writer, dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const acked: string[] = [];
  let buffered = "";
  let stderr = "";
  return new Promise((resolve, reject) => {
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.on("data", (d) => {
      buffered += d;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith("ack ")) continue;
        acked.push(line.slice(4));
        if ("delayMs" in when && acked.length === 1) setTimeout(() => child.kill("SIGKILL"), when.delayMs);
      }
      if ("afterAcks" in when && acked.length >= when.afterAcks && child.exitCode === null && !child.killed)
        child.kill("SIGKILL");
    });
    child.on("exit", (code, signal) =>
      signal === "SIGKILL"
        ? resolve(acked)
        : reject(new Error(`writer exited with code ${code} before it was killed: ${stderr}`)),
    );
  });
}
