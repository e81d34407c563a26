#!/usr/bin/env node
/**
 * The unlearn-sweep command line: `pnpm sweep`, `pnpm results`, `pnpm figures`, `pnpm accountant`.
 * Each command lives in ./commands/<name>.ts and exports `run(argv): Promise<number>` (the exit code).
 */
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
    console.log(usage());
    return name ? 0 : 2;
  }
  if (!(name in COMMANDS)) {
    console.error(`unknown command "${name}"\n\n${usage()}`);
    return 2;
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
    console.error(error instanceof Error ? `error: ${error.message}` : error);
    process.exitCode = 1;
  },
);
