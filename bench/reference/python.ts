/**
 * Running the python references of the step benchmark: finding an interpreter that has the modules,
 * writing their inputs, reading back their outputs. Shared by bench/step.ts and its test.
 */
import { spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseNpy, type StepParams, type TrainMatrix, writeNpy } from "@unlearn/core";

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The first interpreter that imports every module in `modules`, or the list of those tried.
 * $PYTHON first, then python3 on PATH (often pyenv's), then Debian's /usr/bin/python3.
 */
export function findPython(modules: string[]): { python: string } | { tried: string[] } {
  const candidates = [
    ...new Set([process.env.PYTHON, "python3", "/usr/bin/python3"].filter(Boolean)),
  ] as string[];
  for (const python of candidates) {
    const probe = spawnSync(python, ["-c", `import ${modules.join(", ")}`], { stdio: "ignore" });
    if (probe.status === 0) return { python };
  }
  return { tried: candidates };
}

/** Runs bench/reference/`script` and returns the JSON object on the last line of its stdout. */
export function runPython(python: string, script: string, args: string[]): Record<string, unknown> {
  const result = spawnSync(python, [path.join(here, script), ...args], {
    encoding: "utf8",
    timeout: 300_000,
    // No __pycache__ beside the reference scripts.
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
  });
  if (result.status !== 0) {
    throw new Error(`${script} failed (exit ${result.status}): ${result.stderr || result.error}`);
  }
  return JSON.parse(result.stdout.trim().split("\n").at(-1)!);
}

/**
 * Writes what the references read (see reference/common.py): X, y, the start W0 of the timed steps,
 * Wcheck (the start of the one noiseless step compared with the engine's) and the step constants.
 */
export async function writeReferenceInputs(
  dir: string,
  data: TrainMatrix,
  W0: Float32Array,
  Wcheck: Float32Array,
  params: StepParams,
  seed: number,
): Promise<void> {
  if (data.classes !== 2) throw new Error("the python references implement the binary step only");
  await writeNpy(path.join(dir, "X.npy"), data.X, [data.n, data.d]);
  await writeNpy(path.join(dir, "y.npy"), data.y, [data.n]);
  await writeNpy(path.join(dir, "W0.npy"), W0, [data.d, params.chains]);
  await writeNpy(path.join(dir, "Wcheck.npy"), Wcheck, [data.d, params.chains]);
  await writeFile(path.join(dir, "params.json"), JSON.stringify({ ...params, seed }));
}

/** A float32 .npy a reference wrote into `dir`. */
export async function readOutput(dir: string, file: string): Promise<Float32Array> {
  const array = parseNpy(await readFile(path.join(dir, file)), file);
  if (!(array.data instanceof Float32Array)) throw new Error(`${file}: expected float32, got ${array.dtype}`);
  return array.data;
}
