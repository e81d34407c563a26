/**
 * A Dockerfile's stages as the tests need them: a small parser for the instructions these files use
 * (continuation lines joined, comments dropped, ARG defaults substituted into FROM).
 */
import { readFileSync } from "node:fs";

export interface Instruction {
  op: string;
  args: string;
}
export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}
export interface Dockerfile {
  args: Record<string, string>;
  stages: Stage[];
}

export function parseDockerfile(file: string): Dockerfile {
  const lines = readFileSync(file, "utf8")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op, rest] = /^(\S+)\s+([\s\S]*)$/.exec(line) ?? [];
    if (!op || rest === undefined) throw new Error(`${file}: cannot read ${JSON.stringify(line)}`);
    const upper = op.toUpperCase();
    if (upper === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!m) throw new Error(`${file}: bad FROM ${rest}`);
      const from = m[1]!.replace(/^\$\{(\w+)\}$/, (_, name) => args[name] ?? `\${${name}}`);
      stages.push({ from, name: m[2], instructions: [] });
    } else if (stages.length === 0 && upper === "ARG") {
      const [name, value = ""] = rest.split("=", 2);
      args[name!] = value;
    } else if (stages.length === 0) {
      throw new Error(`${file}: ${upper} before the first FROM`);
    } else {
      stages.at(-1)!.instructions.push({ op: upper, args: rest });
    }
  }
  return { args, stages };
}

/** CMD in exec form, as an argument list. */
export function cmd(stage: Stage): string[] | undefined {
  const c = stage.instructions.findLast((i) => i.op === "CMD");
  return c ? (JSON.parse(c.args) as string[]) : undefined;
}

/** The stage's user: its own USER, or undefined (the base's, root in a plain image). */
export function user(stage: Stage): string | undefined {
  return stage.instructions.findLast((i) => i.op === "USER")?.args;
}
