/**
 * Column batches (job fusion): many jobs' chains in one engine call over the same training set D.
 *
 * `runColumnBatch` is the one driver: it packs the jobs still running side by side, runs them until
 * the next one is done (a block leaves when its steps are done), unpacks, and repacks the rest. Each
 * job's ξ comes from its own Philox key and its own step counter (./philox.ts), so what a job computes
 * never depends on its batch mates, on the batch width, or on where it started.
 */
import { PhiloxNoise, philoxKey, philoxNormals } from "./philox.ts";
import { type LoopSpec, runLoop } from "./run-loop.ts";
import type {
  BatchStepper,
  ColumnBlock,
  Engine,
  NoiseSource,
  ReplacedRows,
  StepRunOptions,
  TrainMatrix,
} from "./types.ts";
import {
  checkBatchRun,
  checkStepParams,
  checkTrainRows,
  EngineInputError,
  weightColumns,
} from "./validate.ts";

/** Where each block's columns lie in the batch's W. */
export interface BatchLayout {
  /** Columns of each block. */
  readonly cols: readonly number[];
  /** First column of each block. */
  readonly offsets: readonly number[];
  /** Σ cols. */
  readonly total: number;
}

export function batchLayout(data: TrainMatrix, blocks: readonly ColumnBlock[]): BatchLayout {
  const cols = blocks.map((b) => weightColumns(data, b.params));
  const offsets: number[] = [];
  let total = 0;
  for (const c of cols) {
    offsets.push(total);
    total += c;
  }
  return { cols, offsets, total };
}

/** Rows a block replaces at the end of D (0: it runs on D). */
export function replacedCount(block: ColumnBlock): number {
  return block.replaced?.y.length ?? 0;
}

/** Checks every block against D, naming the block and the field. */
export function checkBlocks(data: TrainMatrix, blocks: readonly ColumnBlock[]): void {
  if (!Array.isArray(blocks) || blocks.length === 0)
    throw new EngineInputError("a column batch needs at least one block");
  blocks.forEach((block, b) => {
    const where = `blocks[${b}]`;
    try {
      checkStepParams(block.params);
    } catch (error) {
      throw new EngineInputError(`${where}: ${(error as Error).message}`);
    }
    if (typeof block.noiseKey !== "bigint")
      throw new EngineInputError(`${where}.noiseKey must be a bigint, got ${typeof block.noiseKey}`);
    const r = block.replaced;
    if (r === undefined) return;
    if (!(r.X instanceof Float32Array) || !(r.y instanceof Float32Array))
      throw new EngineInputError(`${where}.replaced: X and y must be Float32Arrays`);
    if (r.y.length > data.n)
      throw new EngineInputError(`${where}.replaced has ${r.y.length} rows, more than D's n = ${data.n}`);
    checkTrainRows(`${where}.replaced`, r.X, r.y, r.y.length, data.d, data.classes);
  });
}

/** D′ of one block as a training set of its own (for engines without a batch step, and for tests). */
export function materialise(data: TrainMatrix, replaced: ReplacedRows | undefined): TrainMatrix {
  if (!replaced || replaced.y.length === 0) return data;
  const r = replaced.y.length;
  const X = data.X.slice();
  const y = data.y.slice();
  X.set(replaced.X, (data.n - r) * data.d);
  y.set(replaced.y, data.n - r);
  return { ...data, X, y };
}

/**
 * Fills a batch's ξ (d×total) for one step: block b's values are its own ξ at step `steps[b]`, in its
 * own d×cols layout, so they equal what the block would draw alone. Blocks with σ = 0 get zeros and
 * draw nothing. One scratch buffer per block, reused: no allocation per step.
 */
export class BatchNoise {
  private readonly keys: [number, number][];
  private readonly scratch: (Float32Array | null)[];

  constructor(
    private readonly data: TrainMatrix,
    private readonly blocks: readonly ColumnBlock[],
    private readonly layout: BatchLayout,
  ) {
    this.keys = blocks.map((b) => philoxKey(b.noiseKey));
    // A lone block fills the batch's ξ directly; blocks side by side need their own layout first.
    this.scratch = blocks.map((b, i) =>
      blocks.length === 1 || b.params.sigma === 0 ? null : new Float32Array(data.d * layout.cols[i]),
    );
  }

  /** Whether any block draws noise at all. */
  get any(): boolean {
    return this.blocks.some((b) => b.params.sigma > 0);
  }

  fill(xi: Float32Array, steps: readonly number[]): void {
    const { d } = this.data;
    const { cols, offsets, total } = this.layout;
    for (let b = 0; b < this.blocks.length; b++) {
      const own = this.scratch[b];
      if (this.blocks[b].params.sigma === 0) {
        if (this.blocks.length > 1)
          for (let j = 0; j < d; j++) xi.fill(0, j * total + offsets[b], j * total + offsets[b] + cols[b]);
        continue;
      }
      if (!own) {
        philoxNormals(this.keys[b], steps[b], xi);
        continue;
      }
      philoxNormals(this.keys[b], steps[b], own);
      const c = cols[b];
      for (let j = 0; j < d; j++) xi.set(own.subarray(j * c, j * c + c), j * total + offsets[b]);
    }
  }
}

/** A step of a whole batch: W (d×total) and ξ (null when no block draws noise) to the next W. */
export type BatchAdvance = (W: Float32Array, xi: Float32Array | null) => Float32Array | Promise<Float32Array>;

/**
 * What every engine's batch stepper shares: the layout, the batch's ξ (each block at its own step), the
 * checks at the start of a run, and the run loop. An engine supplies one step (`advance`, which must
 * not modify its input W) and may reschedule the noise draws (`schedule`).
 */
export abstract class BatchStepperBase implements BatchStepper {
  /** d × total: the length of W and of ξ. */
  protected readonly length: number;
  protected readonly noise: BatchNoise;

  constructor(
    protected readonly data: TrainMatrix,
    protected readonly blocks: readonly ColumnBlock[],
  ) {
    const layout = batchLayout(data, blocks);
    this.length = data.d * layout.total;
    this.noise = new BatchNoise(data, blocks, layout);
  }

  protected abstract advance(W: Float32Array, xi: Float32Array | null): Float32Array | Promise<Float32Array>;

  /** The noise source and step the run loop gets; by default as they are. */
  protected schedule(
    noise: NoiseSource,
    advance: BatchAdvance,
  ): Pick<LoopSpec<Float32Array>, "noise" | "advance"> {
    return { noise, advance };
  }

  async run(
    W: Float32Array,
    steps: number,
    start: readonly number[],
    options?: StepRunOptions,
  ): Promise<Float32Array> {
    checkBatchRun(W, this.length, steps, start, this.blocks.length);
    const at = [...start];
    const source: NoiseSource = {
      fill: (xi) => {
        this.noise.fill(xi, at);
        for (let b = 0; b < at.length; b++) at[b]++;
      },
    };
    const final = await runLoop<Float32Array>({
      state: W,
      steps,
      ...this.schedule(source, (state, xi) => this.advance(state, xi)),
      noiseLength: this.length,
      sigma: this.noise.any ? 1 : 0,
      options,
    });
    // With 0 steps the state is the caller's array: return a copy, as promised.
    return final === W ? W.slice() : final;
  }

  abstract dispose(): Promise<void>;
}

/** One job of a batch run: its block, its starting chains, and how many steps it runs. */
export interface BatchJob extends ColumnBlock {
  /** Starting chains, d×cols (not modified). */
  readonly W: Float32Array;
  readonly steps: number;
  /** The job's step counter at W (0 for a fresh run; k to resume after k steps). */
  readonly start?: number;
}

export interface BatchRunOptions {
  /** Called with (job index, steps done by that job) now and then. */
  onProgress?: (job: number, done: number) => void;
  /** Called as soon as a job's steps are done, with its final chains (before the others finish). */
  onDone?: (job: number, W: Float32Array) => void;
  /**
   * Asked whenever the batch is packed (at the start, and each time a job has left): jobs returned join
   * it, numbered after those already in the run.
   */
  join?: () => readonly BatchJob[];
  signal?: AbortSignal;
}

/** How one packed run of the batch went: for provenance (how wide each job was run). */
export interface BatchRunReport {
  /** Final chains per job (the given ones, then those that joined). */
  W: Float32Array[];
  /** The widest batch (in columns) each job was part of. */
  fusedColumns: number[];
}

/**
 * Runs every job its own number of steps on `data` (D), packed into one engine call while more than
 * one is running. Engines without a batch step run each job alone, with the same ξ.
 */
export async function runColumnBatch(
  engine: Engine,
  data: TrainMatrix,
  jobs: readonly BatchJob[],
  options: BatchRunOptions = {},
): Promise<BatchRunReport> {
  checkBlocks(data, jobs); // at least one job to start with
  const run = new BatchState(data, options);
  run.admit(jobs);
  for (;;) {
    run.admit(options.join?.() ?? []);
    const active = run.active();
    if (active.length === 0) return run.report();
    await run.segment(engine, active);
  }
}

/** The jobs of a batch run and where each stands. */
class BatchState {
  private readonly jobs: BatchJob[] = [];
  private readonly W: Float32Array[] = [];
  private readonly at: number[] = [];
  private readonly left: number[] = [];
  private readonly fused: number[] = [];

  constructor(
    private readonly data: TrainMatrix,
    private readonly options: BatchRunOptions,
  ) {}

  /** Checks and adds jobs; those with no steps are done at once. */
  admit(jobs: readonly BatchJob[]): void {
    if (jobs.length === 0) return;
    checkBlocks(this.data, jobs);
    for (const job of jobs) {
      const i = this.jobs.length;
      const cols = weightColumns(this.data, job.params);
      const start = job.start ?? 0;
      if (!(job.W instanceof Float32Array) || job.W.length !== this.data.d * cols)
        throw new EngineInputError(
          `jobs[${i}].W must be a Float32Array of d·cols = ${this.data.d * cols} values`,
        );
      if (!(Number.isInteger(job.steps) && job.steps >= 0))
        throw new EngineInputError(`jobs[${i}].steps must be an integer ≥ 0, got ${job.steps}`);
      if (!(Number.isInteger(start) && start >= 0))
        throw new EngineInputError(`jobs[${i}].start must be an integer ≥ 0, got ${start}`);
      this.jobs.push(job);
      this.W.push(job.W.slice());
      this.at.push(start);
      this.left.push(job.steps);
      this.fused.push(0);
      if (job.steps === 0) this.options.onDone?.(i, this.W[i]);
    }
  }

  active(): number[] {
    return this.jobs.map((_, i) => i).filter((i) => this.left[i] > 0);
  }

  /** Runs the active jobs packed together until the first of them is done. */
  async segment(engine: Engine, active: number[]): Promise<void> {
    const { data, options } = this;
    const steps = Math.min(...active.map((i) => this.left[i]));
    const blocks = active.map((i) => this.jobs[i]);
    const layout = batchLayout(data, blocks);
    for (const i of active) this.fused[i] = Math.max(this.fused[i], layout.total);
    const base = active.map((i) => this.jobs[i].steps - this.left[i]);
    const onProgress = options.onProgress;
    const runOptions: StepRunOptions = {
      signal: options.signal,
      onProgress: onProgress ? (k) => active.forEach((i, b) => void onProgress(i, base[b] + k)) : undefined,
    };
    const stepper = await batchStepperFor(engine, data, blocks);
    try {
      const W = pack(
        data.d,
        layout,
        active.map((i) => this.W[i]),
      );
      const next = await stepper.run(
        W,
        steps,
        active.map((i) => this.at[i]),
        runOptions,
      );
      for (const [b, w] of unpack(data.d, layout, next).entries()) {
        const i = active[b];
        this.W[i] = w;
        this.at[i] += steps;
        this.left[i] -= steps;
        if (this.left[i] === 0) options.onDone?.(i, w);
      }
    } finally {
      await stepper.dispose();
    }
  }

  report(): BatchRunReport {
    return { W: this.W, fusedColumns: this.fused };
  }
}

/**
 * A lone block runs on its own D′ through the single-job stepper: the batch graph's shared/replaced
 * split only pays when rows are shared by several blocks.
 */
async function batchStepperFor(
  engine: Engine,
  data: TrainMatrix,
  blocks: readonly ColumnBlock[],
): Promise<BatchStepper> {
  if (engine.createBatchStepper && blocks.length > 1) return engine.createBatchStepper(data, blocks);
  return blockByBlock(engine, data, blocks);
}

/** The fallback: each block on its own D′ through the engine's single-job stepper, with its own ξ. */
async function blockByBlock(
  engine: Engine,
  data: TrainMatrix,
  blocks: readonly ColumnBlock[],
): Promise<BatchStepper> {
  const layout = batchLayout(data, blocks);
  const steppers = await Promise.all(
    blocks.map((b) => engine.createStepper(materialise(data, b.replaced), b.params)),
  );
  return {
    async run(W, steps, start, options) {
      const parts = unpack(data.d, layout, W);
      const next: Float32Array[] = [];
      for (let b = 0; b < blocks.length; b++)
        next.push(
          await steppers[b].run(parts[b], steps, new PhiloxNoise(blocks[b].noiseKey, start[b]), options),
        );
      return pack(data.d, layout, next);
    },
    async dispose() {
      await Promise.all(steppers.map((s) => s.dispose()));
    },
  };
}

/** Blocks' d×cols matrices side by side in one d×total matrix. */
export function pack(d: number, layout: BatchLayout, parts: readonly Float32Array[]): Float32Array {
  const { cols, offsets, total } = layout;
  if (parts.length === 1) return parts[0].slice();
  const W = new Float32Array(d * total);
  parts.forEach((part, b) => {
    for (let j = 0; j < d; j++) W.set(part.subarray(j * cols[b], (j + 1) * cols[b]), j * total + offsets[b]);
  });
  return W;
}

/** The inverse of `pack`. */
export function unpack(d: number, layout: BatchLayout, W: Float32Array): Float32Array[] {
  const { cols, offsets, total } = layout;
  if (cols.length === 1) return [W.slice()];
  return cols.map((c, b) => {
    const part = new Float32Array(d * c);
    for (let j = 0; j < d; j++)
      part.set(W.subarray(j * total + offsets[b], j * total + offsets[b] + c), j * c);
    return part;
  });
}
