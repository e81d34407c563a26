#!/usr/bin/env node
/**
 * The unlearn-sweep command line: `pnpm sweep`, `pnpm results`, `pnpm figures`, `pnpm accountant`.
 * Each command lives in ./commands/<name>.ts and exports `run(argv): Promise<number>` (the exit code).
 */
import { EXIT } from "./usage.ts";

const COMMANDS = {
  sweep: "plan and run a sweep (a paper figure or your own grid) and store every result",
  results: "list stored sweeps, or print one sweep's results as a table, JSON or CSV",
  figures: "render a sweep's paper figure to SVG and PNG",
  accountant: "the Rényi-DP accountant: K, σ*, ε0, sequential schedules, D2D noise",
  features: "extract CIFAR-10's ResNet-18 features (the cifar10-* datasets) from the official archive",
} as const;
type CommandName = keyof typeof COMMANDS;

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, what]) => `  ${name.padEnd(11)} ${what}`);
  return `usage: unlearn <command> [options]   (pnpm <command> … from the repository root)\n\ncommands:\n${lines.join("\n")}\n\nRun a command with --help for its options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h") {
    if (name) console.log(usage());
    else console.error(`error: no command given\n\n${usage()}`);
    return name ? EXIT.ok : EXIT.usage;
  }
  // An own property only: "constructor" or "toString" are not commands.
  if (!Object.hasOwn(COMMANDS, name)) {
    console.error(`error: unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(", ")})`);
    console.error("(run `unlearn --help` for the commands)");
    return EXIT.usage;
  }
  const command: { run(argv: string[]): Promise<number> } = await import(
    `./commands/${name as CommandName}.ts`
  );
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // A command's own errors are reported by it; this is the unexpected rest, still in one line.
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = EXIT.failure;
  },
);
