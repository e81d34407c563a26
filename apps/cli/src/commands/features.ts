/**
 * `pnpm features cifar10 --archive cifar-10-binary.tar.gz|DIR --model resnet18.onnx [--out DIR] …`:
 * the ResNet-18 features of CIFAR-10 that the `cifar10-3v8` and `cifar10-multi` datasets read, made
 * with @unlearn/core's extractCifar10Features (no Python). Progress and ETA go to stderr; an interrupted
 * or killed run resumes from its finished batches when the same command is run again.
 * Exit code 0 when the features are written, 2 for a bad command line, archive or model, 1 for other
 * failures, 130 when interrupted.
 */
import os from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  Cifar10Error,
  DEFAULT_BATCH,
  type Device,
  type ExtractProgress,
  type ExtractSummary,
  extractCifar10Features,
  FeatureModelError,
  MODEL_FORMATS,
  type ModelFormat,
  PARTIAL_DIR,
} from "@unlearn/core";
import { UsageError } from "../usage.ts";

const USAGE = `usage: pnpm features cifar10 --archive FILE|DIR --model FILE [options]

Extracts the 512 ResNet-18 features of every CIFAR-10 image (images resized 32→224 bilinear, ImageNet
mean/std) into the features directory of the cifar10-3v8 and cifar10-multi datasets. Rerunning the
same command after a crash or Ctrl-C resumes from the finished batches.

options:
  --archive FILE|DIR     the official cifar-10-binary.tar.gz, or a folder of its six .bin files
  --model FILE           ResNet-18 as ONNX, float32 [N,3,224,224] → [N,512] (or [N,512,1,1])
  --out DIR              where the features go (default: data/cifar10-features next to sweeps/,
                         where the cifar10-* presets look)
  --model-format F       torchvision (default: torchvision's resnet18 IMAGENET1K_V1 with fc removed)
                         or zoo (the ONNX model zoo's resnet18-v1-7: cut at its global average pool)
  --batch N              images per model run (default ${DEFAULT_BATCH})
  --threads N            onnxruntime intra-op threads (default: all ${os.availableParallelism()} cores)
  --device cpu|cuda      default $WORKER_DEVICE, else cpu; cuda needs onnxruntime-node's CUDA provider
  --records N            records per batch file (default 10000; fewer only for truncated test files)
  --json                 print the summary as one JSON object on stdout
  --help                 show this help`;

interface Flags {
  archive: string;
  model: string;
  out?: string;
  format: ModelFormat;
  batch: number;
  threads?: number;
  device: Device;
  records?: number;
  json: boolean;
}

function integer(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${flag}: expected an integer in ${min}…${max}, got ${JSON.stringify(value)}`);
  return n;
}

function required(flag: string, value: string | undefined): string {
  if (value === undefined || value.trim() === "") throw new UsageError(`--${flag} is required`);
  return value;
}

function parseFlags(argv: string[]): Flags | "help" {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      archive: { type: "string" },
      model: { type: "string" },
      out: { type: "string" },
      "model-format": { type: "string", default: "torchvision" },
      batch: { type: "string" },
      threads: { type: "string" },
      device: { type: "string" },
      records: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return "help";
  if (positionals.length !== 1 || positionals[0] !== "cifar10") {
    throw new UsageError(
      `expected the dataset "cifar10" (the only one there is), got ${positionals.length === 0 ? "none" : positionals.map((p) => `"${p}"`).join(" ")}`,
    );
  }
  const format = values["model-format"] as ModelFormat;
  if (!MODEL_FORMATS.includes(format))
    throw new UsageError(`--model-format must be one of ${MODEL_FORMATS.join(", ")}, got "${format}"`);
  const deviceFlag = values.device ?? process.env.WORKER_DEVICE ?? "cpu";
  if (deviceFlag !== "cpu" && deviceFlag !== "cuda") {
    const from = values.device === undefined ? "WORKER_DEVICE" : "--device";
    throw new UsageError(`${from} must be cpu or cuda, got "${deviceFlag}"`);
  }
  if (values.out !== undefined && values.out.trim() === "") throw new UsageError("--out needs a value");
  return {
    archive: required("archive", values.archive),
    model: required("model", values.model),
    out: values.out,
    format,
    batch: integer("batch", values.batch, 1, 4096) ?? DEFAULT_BATCH,
    threads: integer("threads", values.threads, 1, 1024),
    device: deviceFlag,
    records: integer("records", values.records, 1, 10_000),
    json: values.json,
  };
}

/**
 * The presets' features folder (`featuresDir: "../data/cifar10-features"` in sweeps/cifar10-*.json);
 * without a sweeps/ folder above the working directory --out is required (`optional`: it was given).
 */
async function defaultOut(optional: boolean): Promise<string | undefined> {
  const { findSweepsDir } = await import("@unlearn/sweep");
  const sweeps = findSweepsDir();
  if (sweeps) return resolve(sweeps, "../data/cifar10-features");
  if (optional) return undefined;
  throw new UsageError("--out DIR is required here (no sweeps/ folder above the working directory)");
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function progressLine(p: ExtractProgress): string {
  const width = 24;
  const filled = p.total > 0 ? Math.round((p.done / p.total) * width) : 0;
  const pct = p.total > 0 ? Math.floor((p.done / p.total) * 100) : 0;
  const rate = p.rate > 0 ? `${p.rate.toFixed(p.rate < 10 ? 2 : 1)} images/s` : "– images/s";
  const eta = p.eta === null ? "ETA –" : `ETA ${duration(p.eta)}`;
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(pct).padStart(3)}% ${p.done}/${p.total} images  ${rate}  ${eta}`;
}

/** One rewritten line on a terminal; in logs a line every 10% and at least every 30 s. */
function progressReporter(stream: NodeJS.WriteStream) {
  const tty = Boolean(stream.isTTY);
  let lastTenth = -1;
  let lastAt = 0;
  let shown = false;
  return {
    progress(p: ExtractProgress) {
      const line = progressLine(p);
      const tenth = Math.floor((p.done / Math.max(1, p.total)) * 10);
      if (tty) {
        stream.write(`\r\x1b[2K${line}`);
        shown = true;
      } else if (tenth !== lastTenth || performance.now() - lastAt >= 30_000) {
        lastTenth = tenth;
        lastAt = performance.now();
        stream.write(`${line}\n`);
      }
    },
    note(text: string) {
      this.end();
      stream.write(`${text}\n`);
    },
    end() {
      if (shown) stream.write("\n");
      shown = false;
    },
  };
}

function summaryText(s: ExtractSummary, presetsRead: boolean): string {
  const made = s.upToDate
    ? "already up to date (same model and archive), nothing ran"
    : `${s.extracted} images in ${duration(s.seconds)}${s.extracted > 0 ? ` (${(s.extracted / s.seconds).toFixed(1)} images/s, ${s.model.device}, ${s.model.threads} threads, batch ${s.model.batch})` : ""}`;
  const next = presetsRead
    ? "the sweeps/cifar10-*.json presets read this folder: pnpm sweep --config cifar10-3v8-fig5"
    : `use it with: pnpm sweep --config cifar10-3v8-fig5 --features-dir ${s.out}   (or any sweeps/cifar10-*.json)`;
  return `${s.out}: ${s.train} train + ${s.test} test rows × 512 features, key ${s.key.slice(0, 16)}: ${made}\n${next}`;
}

export async function run(argv: string[]): Promise<number> {
  let flags: Flags | "help";
  let presetsDir: string | undefined;
  try {
    flags = parseFlags(argv);
    if (flags !== "help") presetsDir = await defaultOut(flags.out !== undefined);
    if (flags !== "help" && flags.out === undefined) flags.out = presetsDir;
  } catch (error) {
    process.stderr.write(
      `features: ${(error as Error).message}\n\nRun "pnpm features --help" for the options.\n`,
    );
    return 2;
  }
  if (flags === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const out = resolve(flags.out!);
  const reporter = progressReporter(process.stderr);
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.once("SIGINT", onSigint);
  try {
    const summary = await extractCifar10Features({
      archive: flags.archive,
      model: flags.model,
      out,
      format: flags.format,
      batch: flags.batch,
      threads: flags.threads,
      device: flags.device,
      recordsPerFile: flags.records,
      signal: stop.signal,
      onProgress: (p) => reporter.progress(p),
      onNote: (t) => reporter.note(t),
    });
    reporter.end();
    process.stdout.write(
      `${flags.json ? JSON.stringify(summary) : summaryText(summary, presetsDir !== undefined && resolve(presetsDir) === out)}\n`,
    );
    return 0;
  } catch (error) {
    reporter.end();
    const err = error as Error;
    if (err.name === "AbortError") {
      process.stderr.write(
        `features: interrupted; finished batches are kept in ${resolve(out, PARTIAL_DIR)}, rerun the same command to resume\n`,
      );
      return 130;
    }
    process.stderr.write(`features: ${err.message}\n`);
    return err instanceof Cifar10Error || err instanceof FeatureModelError || err instanceof RangeError
      ? 2
      : 1;
  } finally {
    process.off("SIGINT", onSigint);
  }
}
