#!/usr/bin/env node
// `pnpm test:mutation [package…]`: mutation testing of the science code (issue 11). Runs Stryker in each
// package of stryker.config.mjs's TARGETS (cwd = the package, so vitest resolves it as in `pnpm test`),
// merges their JSON reports into reports/mutation/mutation.json (the mutation-testing-report-schema
// format Stryker writes) and prints the score per package and in all.
//
// Stryker 10 refuses Node < 22 with a guard that runs when its CLI module loads (the package's main
// entry re-exports the CLI, so importing it trips the guard too). Its Stryker class runs on the Node 20
// of this machine, so this script imports that class from its own module and drives it directly.
// `pnpm test:mutation core` reruns one package and merges the others' reports from earlier runs.
// Exit: 0 when the score reaches the target (80 %), 1 when it does not or a run fails, 2 for a bad argument.
import { spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const configFile = join(root, "stryker.config.mjs");
const TARGET_SCORE = 80;

/** Statuses counted as Stryker counts them: detected / (detected + undetected); errors and ignored are out. */
const DETECTED = new Set(["Killed", "Timeout"]);
const UNDETECTED = new Set(["Survived", "NoCoverage"]);

function score(files) {
  const counts = { detected: 0, undetected: 0, other: 0 };
  for (const file of Object.values(files)) {
    for (const m of file.mutants) {
      if (DETECTED.has(m.status)) counts.detected++;
      else if (UNDETECTED.has(m.status)) counts.undetected++;
      else counts.other++;
    }
  }
  const valid = counts.detected + counts.undetected;
  return { ...counts, score: valid === 0 ? Number.NaN : (100 * counts.detected) / valid };
}

async function importStryker() {
  const pkgJson = createRequire(import.meta.url).resolve("@stryker-mutator/core/package.json");
  return import(pathToFileURL(join(dirname(pkgJson), "dist", "src", "stryker.js")).href);
}

/** In a child process per package: the config is evaluated once per process, with cwd = the package. */
async function strykerChild() {
  const { Stryker } = await importStryker();
  await new Stryker({ configFile }).runMutationTest();
}

function runStryker(pkg) {
  const cwd = join(root, "packages", pkg);
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--child"], {
    cwd,
    stdio: "inherit",
  });
  if (child.status !== 0)
    throw new Error(`Stryker failed in packages/${pkg} (exit ${child.status ?? child.signal})`);
}

/** A package's report with paths relative to the repository root, or null when it has none yet. */
async function readReport(pkg) {
  let report;
  try {
    report = JSON.parse(await readFile(join(root, "reports", "mutation", `${pkg}.json`), "utf8"));
  } catch {
    return null;
  }
  const files = {};
  for (const [path, file] of Object.entries(report.files)) files[`packages/${pkg}/${path}`] = file;
  return { report, files };
}

function line(pkg, s, note) {
  return (
    `${pkg.padEnd(12)} ${s.score.toFixed(2).padStart(6)} %  killed ${s.detected}, survived ${s.undetected}, ` +
    `errors/ignored ${s.other}  ${note}`
  );
}

async function main() {
  const { TARGETS } = await import(configFile);
  const known = Object.keys(TARGETS);
  const wanted = process.argv.slice(2);
  const bad = wanted.filter((p) => !known.includes(p));
  if (bad.length > 0) {
    console.error(`test:mutation: unknown package ${bad.join(", ")} (expected some of: ${known.join(", ")})`);
    process.exit(2);
  }
  // Naming packages reruns only those; the others' reports from earlier runs are merged as they are.
  const toRun = wanted.length > 0 ? wanted : known;
  const merged = {};
  const lines = [];
  let template;
  for (const pkg of known) {
    const started = Date.now();
    if (toRun.includes(pkg)) runStryker(pkg);
    const read = await readReport(pkg);
    if (!read) {
      lines.push(`${pkg.padEnd(12)} (no report: run pnpm test:mutation ${pkg})`);
      continue;
    }
    template ??= read.report;
    Object.assign(merged, read.files);
    const note = toRun.includes(pkg) ? `(${Math.round((Date.now() - started) / 1000)} s)` : "(earlier run)";
    lines.push(line(pkg, score(read.files), note));
  }
  await mkdir(join(root, "reports", "mutation"), { recursive: true });
  await writeFile(
    join(root, "reports", "mutation", "mutation.json"),
    JSON.stringify({ ...template, files: merged }),
  );
  const all = score(merged);
  console.log("\nmutation score (killed + timeout) / (killed + timeout + survived + no coverage):");
  for (const l of lines) console.log(`  ${l}`);
  console.log(
    `  ${"all".padEnd(12)} ${all.score.toFixed(2).padStart(6)} %  (${all.detected} of ${all.detected + all.undetected} mutants detected)`,
  );
  console.log("report: reports/mutation/mutation.json");
  process.exit(all.score >= TARGET_SCORE ? 0 : 1);
}

(process.argv[2] === "--child" ? strykerChild() : main()).catch((err) => {
  console.error(`test:mutation: ${err instanceof Error ? err.stack : err}`);
  process.exit(1);
});
