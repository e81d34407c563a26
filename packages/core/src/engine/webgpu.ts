/**
 * The `webgpu` engine: docs/science.md §3's step as WGSL compute kernels (./webgpu-kernels.ts) on the npm
 * package `webgpu` (Dawn's Node binding: Vulkan on Linux, Metal on macOS, D3D12 on Windows). On a
 * machine without a GPU it runs on Mesa's software Vulkan adapter (llvmpipe/lavapipe), which is how
 * the conformance suite runs it in CI.
 *
 * X, y and both copies of W (ping-pong) stay on the GPU for the stepper's life; per step only ξ (when
 * σ > 0) and a 32-byte step counter are uploaded, and W is read back once, at the end of a run.
 * ξ: from a PhiloxNoise source (./webgpu-noise.ts) it is drawn on the GPU by a kernel, nothing is
 * uploaded. From any other NoiseSource (rng.ts's GaussianStream, the algorithms' default) it is filled
 * on the CPU and uploaded every step, as every engine does, so the same seed gives the same trajectory
 * on every engine; that costs the CPU's fill plus a d·cols·4-byte upload per step, overlapped with the
 * GPU's work on the previous step (at most STEPS_IN_FLIGHT steps ahead).
 *
 * A column batch (job fusion, createBatchStepper) is one device program, one submission per step: ξ of
 * every block drawn on the GPU from its own key and step counter (PHILOX_BATCH_NOISE), the rows no block
 * replaces multiplied once for all columns, each block's replaced rows with its own columns (TailPlan),
 * and per-chain η, m, M and noise scale in the coefficient and update kernels.
 */
import { createRequire } from "node:module";
import { type BatchLayout, batchLayout, checkBlocks, replacedCount } from "./batch.ts";
import { PhiloxNoise, philoxKey } from "./philox.ts";
import { runLoop } from "./run-loop.ts";
import type {
  BatchStepper,
  ColumnBlock,
  Engine,
  EngineOptions,
  NoiseSource,
  ReplacedRows,
  StepParams,
  Stepper,
  StepRunOptions,
  TrainMatrix,
} from "./types.ts";
import {
  checkBatchRun,
  checkStepParams,
  checkSteps,
  checkTrainMatrix,
  checkWeights,
  EngineInputError,
  weightColumns,
} from "./validate.ts";
import {
  COEF_BINARY,
  COEF_ROWS,
  COLUMN_NORMS,
  coefMulticlassShader,
  type MatmulShape,
  matmulShader,
  matmulSharedBytes,
  matmulTile,
  REG_WEIGHTS,
  updateShader,
} from "./webgpu-kernels.ts";
import { PHILOX_BATCH_NOISE, PHILOX_NOISE } from "./webgpu-noise.ts";
import { planStep, type StepPlan } from "./webgpu-plan.ts";

/** What provides a WebGPU adapter where none was found (one line, for the error). */
export const ADAPTER_PACKAGES =
  "install a GPU driver with Vulkan support, or Mesa's software adapter from Debian bookworm-backports: " +
  "apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1 (Debian 12's own Mesa 22.3 is too old for Dawn)";

// GPUBufferUsage / GPUMapMode flag values of the WebGPU spec (the globals exist only after
// `Object.assign(globalThis, globals)`, which this module does not do to keep the global scope clean).
const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;
const MAP_READ = 1;
/** Steps submitted before waiting for the GPU: bounds the staging memory of queued ξ uploads. */
const STEPS_IN_FLIGHT = 8;
const MAX_GROUPS = 65535;

export interface WebGpuEngineTuning {
  /** Outputs per thread of the matmul kernels; default 8×8 on a hardware GPU, 4×4 on a software one. */
  tile?: MatmulShape;
  /** Upper bound on one block of Z = X_b·W (bytes); default 256 MiB. */
  maxChunkBytes?: number;
  /** Workgroups the backward product aims for (split over rows); default 1024 hardware, 4 software. */
  targetWorkgroups?: number;
  /** Fewest rows of X per split-K slice of the backward product; default 256. */
  minSliceRows?: number;
  /** Options for Dawn's `create` (e.g. "adapter=NAME", "backend=vulkan"); default none. */
  dawnOptions?: string[];
}

export interface WebGpuEngine extends Engine {
  /** The adapter Dawn picked: vendor, architecture, description, and whether it is a software one. */
  readonly adapter: { vendor: string; architecture: string; description: string; software: boolean };
}

/** Per-chain settings for running several jobs' chains side by side (job fusion). */
export interface ChainSchedule {
  /** σ per chain (length T); ξ is drawn for every column whenever any σ_t > 0. */
  sigma?: ArrayLike<number>;
  /** Steps each chain takes in a `run` call; later steps leave its columns unchanged (length T). */
  steps?: ArrayLike<number>;
}

interface Loaded {
  gpu: GPU;
  version: string;
}

async function loadDawn(dawnOptions: string[]): Promise<Loaded> {
  let mod: { create: (options: string[]) => GPU };
  try {
    mod = (await import("webgpu")) as typeof mod;
  } catch (error) {
    throw new Error(
      `webgpu engine: the optional npm package "webgpu" (Dawn for Node) could not be loaded: ${String(error)}`,
      { cause: error },
    );
  }
  const version = (createRequire(import.meta.url)("webgpu/package.json") as { version: string }).version;
  return { gpu: mod.create(dawnOptions), version };
}

function buffer(device: GPUDevice, size: number, usage: number, label: string): GPUBuffer {
  // WebGPU buffers must be non-empty and a multiple of 4 bytes.
  return device.createBuffer({ size: Math.max(16, Math.ceil(size / 4) * 4), usage, label });
}

function uniform(device: GPUDevice, words: (number | [number, "f32"])[], label: string): GPUBuffer {
  const data = new ArrayBuffer(Math.ceil(words.length / 4) * 16);
  const u32 = new Uint32Array(data);
  const f32 = new Float32Array(data);
  words.forEach((w, i) => {
    if (Array.isArray(w)) f32[i] = w[0];
    else u32[i] = w;
  });
  const b = buffer(device, data.byteLength, USAGE.UNIFORM | USAGE.COPY_DST, label);
  device.queue.writeBuffer(b, 0, data);
  return b;
}

function bindGroup(
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  resources: (GPUBuffer | { buffer: GPUBuffer; offset: number; size: number })[],
): GPUBindGroup {
  return device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: resources.map((r, binding) => ({ binding, resource: "buffer" in r ? r : { buffer: r } })),
  });
}

/** A 1-D grid of `groups` workgroups as (x, y) within the 65535-per-dimension limit. */
function grid(groups: number): [number, number] {
  const x = Math.min(Math.max(1, groups), MAX_GROUPS);
  return [x, Math.ceil(groups / x)];
}

interface Pipelines {
  forward: GPUComputePipeline;
  backward: GPUComputePipeline;
  coef: GPUComputePipeline;
  norms: GPUComputePipeline | null;
  reg: GPUComputePipeline | null;
  update: GPUComputePipeline;
  noise: GPUComputePipeline;
  batchNoise: GPUComputePipeline;
}

async function createPipelines(device: GPUDevice, classes: number, tile: MatmulShape): Promise<Pipelines> {
  const binary = classes === 2;
  // One at a time: error scopes are a stack, so each pipeline's scope must close before the next opens.
  const make = async (code: string, label: string) => {
    const module = device.createShaderModule({ code, label });
    device.pushErrorScope("validation");
    const pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
      label,
    });
    const error = await device.popErrorScope();
    if (error) throw new Error(`webgpu engine: kernel "${label}" failed to compile: ${error.message}`);
    return pipeline;
  };
  return {
    forward: await make(matmulShader(false, tile), "forward X.W"),
    backward: await make(matmulShader(true, tile), "backward Xt.R"),
    coef: await make(binary ? COEF_BINARY : coefMulticlassShader(classes), "clip coefficients"),
    update: await make(updateShader(classes), "update"),
    norms: binary ? await make(COLUMN_NORMS, "column norms") : null,
    reg: binary ? await make(REG_WEIGHTS, "mean clip factor") : null,
    noise: await make(PHILOX_NOISE, "philox noise"),
    batchNoise: await make(PHILOX_BATCH_NOISE, "philox noise of a column batch"),
  };
}

/** Per chain: η, m, M and the noise scale √(2η)·σ (the kernels' q[t], a vec4f each). */
function chainParams(params: readonly StepParams[], sigma?: ArrayLike<number>): Float32Array {
  const q = new Float32Array(4 * params.length);
  params.forEach((p, t) => {
    const s = sigma ? sigma[t] : p.sigma;
    q.set([p.eta, p.m, p.clip, Math.sqrt(2 * p.eta * s * s)], 4 * t);
  });
  return q;
}

/**
 * The rows of a column batch that some block replaces: D's last `rows` rows (from row `head`, a
 * multiple of COEF_ROWS), as each block sees them. Each block multiplies its own version of them
 * (`source`: rows×d, D's tail with its replacements) with its own columns of W, and adds their part
 * of Xᵀ·R to its own columns of G; the head rows are multiplied once for every column.
 */
interface TailPlan {
  head: number;
  rows: number;
  blocks: { offset: number; cols: number; source: GPUBuffer }[];
  /** The tail's Z (rows × cols, the batch's columns). */
  Z: GPUBuffer;
  /** Labels of the tail rows per chain (rows × T). */
  y: GPUBuffer;
}

/** The GPU buffers of one stepper. */
interface Buffers {
  X: GPUBuffer;
  y: GPUBuffer;
  W: [GPUBuffer, GPUBuffer];
  Z: GPUBuffer;
  G: GPUBuffer;
  xi: GPUBuffer;
  /** Per chain η, m, M, noise scale (chainParams). */
  chain: GPUBuffer;
  lastStep: GPUBuffer;
  reg: GPUBuffer;
  wsq: GPUBuffer;
  sPart: GPUBuffer;
  updateParams: GPUBuffer;
  noiseParams: GPUBuffer;
  readback: GPUBuffer;
  /** Uniforms and other buffers freed with the stepper. */
  uniforms: GPUBuffer[];
}

function createBuffers(
  device: GPUDevice,
  data: TrainMatrix,
  cols: number,
  T: number,
  plan: StepPlan,
  sBlocks: number,
): Buffers {
  const { n, d } = data;
  const S = USAGE.STORAGE;
  const DST = USAGE.COPY_DST;
  const wBytes = d * cols * 4;
  const b: Buffers = {
    X: buffer(device, n * d * 4, S | DST, "X"),
    y: buffer(device, n * 4, S | DST, "y"),
    W: [
      buffer(device, wBytes, S | DST | USAGE.COPY_SRC, "W0"),
      buffer(device, wBytes, S | DST | USAGE.COPY_SRC, "W1"),
    ],
    Z: buffer(device, plan.chunkRows * cols * 4, S, "Z"),
    G: buffer(device, plan.splits * wBytes, S, "G"),
    xi: buffer(device, wBytes, S | DST, "xi"),
    chain: buffer(device, T * 16, S | DST, "chain params"),
    lastStep: buffer(device, T * 4, S | DST, "last step"),
    reg: buffer(device, T * 4, S | DST, "reg"),
    wsq: buffer(device, T * 4, S, "wsq"),
    sPart: buffer(device, sBlocks * T * 4, S, "s sums"),
    updateParams: buffer(device, 32, USAGE.UNIFORM | DST, "update params"),
    noiseParams: buffer(device, 16, USAGE.UNIFORM | DST, "noise params"),
    readback: buffer(device, wBytes, USAGE.MAP_READ | DST, "readback"),
    uniforms: [],
  };
  device.queue.writeBuffer(b.X, 0, data.X);
  device.queue.writeBuffer(b.y, 0, data.y);
  device.queue.writeBuffer(b.lastStep, 0, new Uint32Array(T).fill(0xffffffff));
  // Multiclass: the regulariser is added after clipping, weight 1 (the binary kernels overwrite reg).
  device.queue.writeBuffer(b.reg, 0, new Float32Array(T).fill(1));
  return b;
}

/** One dispatch of a step: its bind group for each of the two W buffers (ping-pong), and its grid. */
interface Op {
  pipeline: GPUComputePipeline;
  groups: [GPUBindGroup, GPUBindGroup];
  grid: [number, number?, number?];
}

/** Everything a step dispatches, recorded once per stepper. */
interface Program {
  /** Partial sums of G the update kernel adds up (split-K of the backward product). */
  splits: number;
  encode(pass: GPUComputePassEncoder, cur: 0 | 1): void;
  /** Draws ξ into its buffer on the GPU (PhiloxNoise or the batch's blocks), before the step. */
  encodeNoise(pass: GPUComputePassEncoder): void;
}

interface ProgramInput {
  device: GPUDevice;
  data: TrainMatrix;
  /** Chains (T) and columns (T, or T·C multiclass) of W, all blocks together. */
  T: number;
  cols: number;
  /** Row chunks of D's rows 0…head−1 (every row for a single job). */
  plan: StepPlan;
  /** Blocks of COEF_ROWS rows over all of n (the binary clip-factor sums). */
  sBlocks: number;
  tile: MatmulShape;
  p: Pipelines;
  b: Buffers;
  /** A column batch whose blocks replace rows; null: every column sees D. */
  tail: TailPlan | null;
  /** A column batch's noise: its block table (PHILOX_BATCH_NOISE) and widest block's d·cols. */
  batchNoise: { table: GPUBuffer; widest: number; blocks: number } | null;
}

/** The same bind group for both W buffers (ops that do not touch W). */
const both = (g: GPUBindGroup): [GPUBindGroup, GPUBindGroup] => [g, g];

/** Matmul dims: M, N, K, kSplit, accumulate, ldb, bOff, ldc, cOff. */
type Dims = [number, number, number, number, number, number, number, number, number];

/**
 * What the op builders share: d, the matmul tile, whether rows are binary, and `keep` (registers a
 * uniform buffer to be freed with the program).
 */
function opTools({ data, tile, b }: ProgramInput) {
  const keep = (u: GPUBuffer) => {
    b.uniforms.push(u);
    return u;
  };
  return { d: data.d, t: matmulTile(tile), keep, binary: data.classes === 2 };
}

/** X·W, the clip coefficients and Xᵀ·R for each row chunk of the shared rows. */
function chunkOps(input: ProgramInput): Op[] {
  const { device, data, T, cols, plan, p, b } = input;
  const { d, t, keep, binary } = opTools(input);
  return plan.chunks.flatMap((c, index): Op[] => {
    const x = { buffer: b.X, offset: c.start * d * 4, size: c.rows * d * 4 };
    const fwd: Dims = [c.rows, cols, d, d, 0, cols, 0, cols, 0];
    const bwd: Dims = [d, cols, c.rows, plan.kSplit, index > 0 ? 1 : 0, cols, 0, cols, 0];
    const fwdDims = keep(uniform(device, fwd, "X.W dims"));
    const bwdDims = keep(uniform(device, bwd, "Xt.R dims"));
    const coefParams = keep(
      uniform(device, [c.rows, T, c.start, 1, 0, c.start / COEF_ROWS, 0, 0], "coef params"),
    );
    const forward = (w: 0 | 1) => bindGroup(device, p.forward, [x, b.W[w], b.Z, fwdDims]);
    const coef = bindGroup(
      device,
      p.coef,
      binary ? [b.Z, b.y, b.wsq, b.sPart, b.chain, coefParams] : [b.Z, b.y, b.chain, coefParams],
    );
    return [
      {
        pipeline: p.forward,
        groups: [forward(0), forward(1)],
        grid: [Math.ceil(cols / t.cols), Math.ceil(c.rows / t.rows)],
      },
      {
        pipeline: p.coef,
        groups: both(coef),
        grid: binary
          ? [Math.ceil(T / 64), Math.ceil(c.rows / COEF_ROWS)]
          : grid(Math.ceil((c.rows * T) / 64)),
      },
      {
        pipeline: p.backward,
        groups: both(bindGroup(device, p.backward, [x, b.Z, b.G, bwdDims])),
        grid: [Math.ceil(cols / t.cols), Math.ceil(d / t.rows), plan.splits],
      },
    ];
  });
}

/**
 * A batch's replaced rows: per block, its version of the tail rows times its columns of W (into the
 * tail's Z); the clip coefficients of the whole tail at once; per block, its rows transposed times its
 * columns of R, added to its columns of G (partial 0), or written when there are no head rows.
 */
function tailOps(input: ProgramInput): Op[] {
  const { device, data, T, cols, p, b, tail } = input;
  if (!tail) return [];
  const { d, t, keep, binary } = opTools(input);
  const R = tail.rows;
  const kSplit = Math.ceil(R / 16) * 16;
  const forwards: Op[] = [];
  const backwards: Op[] = [];
  for (const blk of tail.blocks) {
    const fwd: Dims = [R, blk.cols, d, d, 0, cols, blk.offset, cols, blk.offset];
    const bwd: Dims = [d, blk.cols, R, kSplit, tail.head > 0 ? 1 : 0, cols, blk.offset, cols, blk.offset];
    const fwdDims = keep(uniform(device, fwd, "tail X.W dims"));
    const bwdDims = keep(uniform(device, bwd, "tail Xt.R dims"));
    const forward = (w: 0 | 1) => bindGroup(device, p.forward, [blk.source, b.W[w], tail.Z, fwdDims]);
    forwards.push({
      pipeline: p.forward,
      groups: [forward(0), forward(1)],
      grid: [Math.ceil(blk.cols / t.cols), Math.ceil(R / t.rows)],
    });
    backwards.push({
      pipeline: p.backward,
      groups: both(bindGroup(device, p.backward, [blk.source, tail.Z, b.G, bwdDims])),
      grid: [Math.ceil(blk.cols / t.cols), Math.ceil(d / t.rows), 1],
    });
  }
  const coefParams = keep(uniform(device, [R, T, 0, T, 1, tail.head / COEF_ROWS, 0, 0], "tail coef params"));
  const coef: Op = {
    pipeline: p.coef,
    groups: both(
      bindGroup(
        device,
        p.coef,
        binary
          ? [tail.Z, tail.y, b.wsq, b.sPart, b.chain, coefParams]
          : [tail.Z, tail.y, b.chain, coefParams],
      ),
    ),
    grid: binary ? [Math.ceil(T / 64), Math.ceil(R / COEF_ROWS)] : grid(Math.ceil((R * T) / 64)),
  };
  return [...forwards, coef, ...backwards];
}

function buildProgram(input: ProgramInput): Program {
  const { device, data, T, cols, plan, sBlocks, p, b } = input;
  const { d } = data;
  const ops: Op[] = [];
  if (p.norms) {
    const params4 = uniform(device, [d, T, 0, 0], "norm params");
    b.uniforms.push(params4);
    const norms = (w: 0 | 1) => bindGroup(device, p.norms!, [b.W[w], b.wsq, params4]);
    ops.push({ pipeline: p.norms, groups: [norms(0), norms(1)], grid: [Math.ceil(T / 64)] });
  }
  ops.push(...chunkOps(input), ...tailOps(input));
  if (p.reg) {
    const regParams = uniform(device, [sBlocks, T, [data.n, "f32"], 0], "reg params");
    b.uniforms.push(regParams);
    ops.push({
      pipeline: p.reg,
      groups: both(bindGroup(device, p.reg, [b.sPart, b.reg, regParams])),
      grid: [Math.ceil(T / 64)],
    });
  }
  const update = (w: 0 | 1) =>
    bindGroup(device, p.update, [b.W[w], b.W[1 - w], b.G, b.xi, b.chain, b.lastStep, b.reg, b.updateParams]);
  ops.push({ pipeline: p.update, groups: [update(0), update(1)], grid: grid(Math.ceil((d * cols) / 64)) });
  const bn = input.batchNoise;
  const noise: Op = bn
    ? {
        pipeline: p.batchNoise,
        groups: both(bindGroup(device, p.batchNoise, [b.xi, bn.table, b.noiseParams])),
        grid: [...grid(Math.ceil(bn.widest / 4 / 64)), bn.blocks],
      }
    : {
        pipeline: p.noise,
        groups: both(bindGroup(device, p.noise, [b.xi, b.noiseParams])),
        grid: grid(Math.ceil((d * cols) / 4 / 64)),
      };
  const run = (pass: GPUComputePassEncoder, op: Op, cur: 0 | 1) => {
    pass.setPipeline(op.pipeline);
    pass.setBindGroup(0, op.groups[cur]);
    pass.dispatchWorkgroups(...(op.grid as [number, number?, number?]));
  };
  return {
    splits: plan.splits,
    encodeNoise: (pass) => run(pass, noise, 0),
    encode(pass, cur) {
      for (const op of ops) run(pass, op, cur);
    },
  };
}

export class WebGpuStepper implements Stepper {
  private readonly length: number;
  private readonly cols: number;
  private sigmas: Float64Array;
  private lastSteps: Uint32Array;
  private disposed = false;
  /** Runs on one stepper share its buffers: they are serialised. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly device: GPUDevice,
    private readonly data: TrainMatrix,
    private readonly params: StepParams,
    private readonly buffers: Buffers,
    private readonly program: Program,
    /** The device's first uncaptured error (shared by the engine's steppers). */
    private readonly errors: string[],
    private readonly onDispose: () => void,
  ) {
    this.cols = weightColumns(data, params);
    this.length = data.d * this.cols;
    this.sigmas = new Float64Array(params.chains).fill(params.sigma);
    this.lastSteps = new Uint32Array(params.chains).fill(0xffffffff);
    this.writeSchedule();
  }

  /**
   * Gives each chain its own σ and number of steps (job fusion: several jobs' chains in one W).
   * Omitted fields keep their current values.
   */
  setSchedule(schedule: ChainSchedule): void {
    const T = this.params.chains;
    const take = (name: string, values: ArrayLike<number>, ok: (v: number) => boolean) => {
      if (values.length !== T)
        throw new EngineInputError(`ChainSchedule.${name} has length ${values.length}, expected T = ${T}`);
      for (let t = 0; t < T; t++)
        if (!ok(values[t]))
          throw new EngineInputError(`ChainSchedule.${name}[${t}] = ${values[t]} is out of range`);
    };
    if (schedule.sigma) {
      take("sigma", schedule.sigma, (v) => Number.isFinite(v) && v >= 0);
      this.sigmas = Float64Array.from(schedule.sigma);
    }
    if (schedule.steps) {
      take("steps", schedule.steps, (v) => Number.isInteger(v) && v >= 0 && v < 0xffffffff);
      this.lastSteps = Uint32Array.from(schedule.steps);
    }
    this.writeSchedule();
  }

  private writeSchedule(): void {
    const params = Array<StepParams>(this.params.chains).fill(this.params);
    this.device.queue.writeBuffer(this.buffers.chain, 0, chainParams(params, this.sigmas));
    this.device.queue.writeBuffer(this.buffers.lastStep, 0, this.lastSteps);
  }

  private get maxSigma(): number {
    return this.sigmas.reduce((a, b) => Math.max(a, b), 0);
  }

  /**
   * Queues one step. ξ is `xi` (uploaded), or with `fill` the PhiloxNoise fill of that number (drawn
   * on the GPU), or none.
   */
  private submitStep(
    cur: 0 | 1,
    step: number,
    xi: Float32Array | null,
    fill?: { index: number; key: number[] },
  ): void {
    writeUpdateParams(this.device, this.buffers, this.data, this.program, this.cols, step, !!(xi || fill));
    if (fill) {
      const words = Uint32Array.of(this.length, fill.index, fill.key[0], fill.key[1]);
      this.device.queue.writeBuffer(this.buffers.noiseParams, 0, words);
    } else if (xi) this.device.queue.writeBuffer(this.buffers.xi, 0, xi);
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    if (fill) this.program.encodeNoise(pass);
    this.program.encode(pass, cur);
    pass.end();
    this.device.queue.submit([encoder.finish()]);
  }

  private async read(cur: 0 | 1): Promise<Float32Array> {
    return readBack(this.device, this.buffers, cur, this.length, this.errors);
  }

  private exclusive<R>(work: () => Promise<R>): Promise<R> {
    const result = this.queue.then(() => {
      if (this.disposed) throw new Error("webgpu engine: this stepper has been disposed");
      return work();
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  async run(
    W: Float32Array,
    steps: number,
    noise: NoiseSource,
    options?: StepRunOptions,
  ): Promise<Float32Array> {
    checkWeights("W", W, this.length);
    checkSteps(steps);
    return this.exclusive(async () => {
      this.device.queue.writeBuffer(this.buffers.W[0], 0, W);
      let k = 0;
      const inFlight: Promise<undefined>[] = [];
      // PhiloxNoise: each step claims its fill number and the GPU draws it; the loop's own fill is idle.
      const onGpu = noise instanceof PhiloxNoise ? noise : null;
      const cur = await runLoop<0 | 1>({
        state: 0,
        steps,
        noise: onGpu ? { fill: () => {} } : noise,
        noiseLength: onGpu ? 0 : this.length,
        sigma: this.maxSigma,
        advance: async (state, xi) => {
          const fill = onGpu && xi ? { index: onGpu.take(), key: onGpu.key } : undefined;
          this.submitStep(state, k++, fill ? null : xi, fill);
          // Steps are queued without waiting, at most STEPS_IN_FLIGHT ahead of the GPU, so that
          // progress reports and aborts track the GPU and queued ξ uploads do not pile up in staging.
          inFlight.push(this.device.queue.onSubmittedWorkDone());
          if (inFlight.length > STEPS_IN_FLIGHT) await inFlight.shift();
          return (1 - state) as 0 | 1;
        },
        options,
      });
      return this.read(cur);
    });
  }

  async step(W: Float32Array, xi: Float32Array): Promise<Float32Array> {
    checkWeights("W", W, this.length);
    checkWeights("xi", xi, this.length);
    return this.exclusive(async () => {
      this.device.queue.writeBuffer(this.buffers.W[0], 0, W);
      this.submitStep(0, 0, this.maxSigma > 0 ? xi : null);
      return this.read(1);
    });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.queue;
    this.disposed = true;
    this.onDispose();
    destroyBuffers(this.buffers);
  }
}

function destroyBuffers(b: Buffers): void {
  for (const buf of [b.X, b.y, ...b.W, b.Z, b.G, b.xi, b.chain, b.lastStep, b.reg, b.wsq, b.sPart])
    buf.destroy();
  for (const buf of [b.updateParams, b.noiseParams, b.readback, ...b.uniforms]) buf.destroy();
}

/** The update kernel's uniform for one step: sizes, the step number (for lastStep), whether ξ is added. */
function writeUpdateParams(
  device: GPUDevice,
  b: Buffers,
  data: TrainMatrix,
  program: Program,
  cols: number,
  step: number,
  noise: boolean,
): void {
  const u = new ArrayBuffer(32);
  new Uint32Array(u, 0, 4).set([data.d * cols, cols, program.splits, step]);
  new Float32Array(u, 24, 1)[0] = data.n;
  new Uint32Array(u, 28, 1)[0] = noise ? 1 : 0;
  device.queue.writeBuffer(b.updateParams, 0, u);
}

/** Copies W out of buffer `cur` (d·cols values) and fails with the device's first error, if any. */
async function readBack(
  device: GPUDevice,
  b: Buffers,
  cur: 0 | 1,
  length: number,
  errors: string[],
): Promise<Float32Array> {
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(b.W[cur], 0, b.readback, 0, length * 4);
  device.queue.submit([encoder.finish()]);
  await b.readback.mapAsync(MAP_READ, 0, length * 4);
  const out = new Float32Array(b.readback.getMappedRange(0, length * 4).slice(0));
  b.readback.unmap();
  if (errors.length > 0) throw new Error(`webgpu engine: the GPU reported an error: ${errors[0]}`);
  return out;
}

/**
 * A column batch (job fusion, ./batch.ts) as one device program: every block's columns side by side in
 * one W, per-chain η, m, M and noise scale, each block's ξ drawn on the GPU from its own Philox key at
 * its own step (PHILOX_BATCH_NOISE: the values the block draws alone), and each block's replaced rows
 * multiplied with its own columns only (TailPlan). One submission per step for the whole batch.
 */
class WebGpuBatchStepper implements BatchStepper {
  private readonly length: number;
  private readonly cols: number;
  private readonly draws: boolean;
  private disposed = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly device: GPUDevice,
    private readonly data: TrainMatrix,
    private readonly blocks: readonly ColumnBlock[],
    private readonly buffers: Buffers,
    private readonly program: Program,
    /** PHILOX_BATCH_NOISE's block table: 8 words per block, `start` (word 2) written per run. */
    private readonly table: { buffer: GPUBuffer; words: Uint32Array },
    private readonly errors: string[],
    private readonly onDispose: () => void,
  ) {
    this.cols = batchLayout(data, blocks).total;
    this.length = data.d * this.cols;
    this.draws = blocks.some((b) => b.params.sigma > 0);
  }

  async run(
    W: Float32Array,
    steps: number,
    start: readonly number[],
    options?: StepRunOptions,
  ): Promise<Float32Array> {
    checkBatchRun(W, this.length, steps, start, this.blocks.length);
    const result = this.queue.then(async () => {
      if (this.disposed) throw new Error("webgpu engine: this stepper has been disposed");
      const { device, buffers: b } = this;
      device.queue.writeBuffer(b.W[0], 0, W);
      const { words } = this.table;
      start.forEach((s, i) => {
        words[8 * i + 2] = s;
      });
      device.queue.writeBuffer(this.table.buffer, 0, words);
      let k = 0;
      const inFlight: Promise<undefined>[] = [];
      const cur = await runLoop<0 | 1>({
        state: 0,
        steps,
        noise: { fill: () => {} },
        noiseLength: 0,
        sigma: this.draws ? 1 : 0,
        advance: async (state, xi) => {
          const step = k++;
          writeUpdateParams(device, b, this.data, this.program, this.cols, step, xi !== null);
          if (xi) device.queue.writeBuffer(b.noiseParams, 0, Uint32Array.of(this.cols, step, 0, 0));
          const encoder = device.createCommandEncoder();
          const pass = encoder.beginComputePass();
          if (xi) this.program.encodeNoise(pass);
          this.program.encode(pass, state);
          pass.end();
          device.queue.submit([encoder.finish()]);
          inFlight.push(device.queue.onSubmittedWorkDone());
          if (inFlight.length > STEPS_IN_FLIGHT) await inFlight.shift();
          return (1 - state) as 0 | 1;
        },
        options,
      });
      return readBack(device, b, cur, this.length, this.errors);
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.queue;
    this.disposed = true;
    this.onDispose();
    destroyBuffers(this.buffers);
  }
}

async function openDevice(gpu: GPU): Promise<{ device: GPUDevice; info: GPUAdapterInfo }> {
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (error) {
    // Dawn throws (rather than returning null) when an "adapter=" option names no adapter; its
    // message lists the adapters there are.
    throw new Error(`webgpu engine: ${String(error).replace(/\s*\n\s*/g, " ")}`, { cause: error });
  }
  if (!adapter) throw new Error(`webgpu engine: no WebGPU adapter found; ${ADAPTER_PACKAGES}`);
  // The adapter's own maxima: big X and Z blocks, and the 8×8 tile's 16.4 KB of workgroup memory
  // (WebGPU's default allows 16 KB; NVIDIA and llvmpipe allow 32 KB or more).
  const { maxStorageBufferBindingSize, maxBufferSize, maxComputeWorkgroupStorageSize } = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: { maxStorageBufferBindingSize, maxBufferSize, maxComputeWorkgroupStorageSize },
  });
  return { device, info: adapter.info };
}

function planFor(
  device: GPUDevice,
  data: TrainMatrix,
  cols: number,
  tile: MatmulShape,
  tuning: WebGpuEngineTuning,
  software: boolean,
): StepPlan {
  return planStep(
    {
      n: data.n,
      d: data.d,
      cols,
      tile,
      maxChunkBytes: tuning.maxChunkBytes ?? 256 * 2 ** 20,
      targetWorkgroups: tuning.targetWorkgroups ?? (software ? 4 : 1024),
      minSliceRows: tuning.minSliceRows ?? 256,
    },
    { maxBinding: device.limits.maxStorageBufferBindingSize, maxBuffer: device.limits.maxBufferSize },
  );
}

/**
 * The tail rows of a batch as each block sees them: one rows×d buffer per distinct replacement (blocks
 * on D share D's own tail), and the labels per tail row and chain.
 */
function tailPlan(
  device: GPUDevice,
  data: TrainMatrix,
  blocks: readonly ColumnBlock[],
  layout: BatchLayout,
  head: number,
  own: (b: GPUBuffer) => GPUBuffer,
): TailPlan {
  const { n, d, classes } = data;
  const rows = n - head;
  const C = classes === 2 ? 1 : classes;
  const T = layout.total / C;
  const sources = new Map<ReplacedRows | undefined, GPUBuffer>();
  const y = new Float32Array(rows * T);
  const tailBlocks = blocks.map((blk, i) => {
    const r = replacedCount(blk);
    const key = r > 0 ? blk.replaced : undefined;
    let source = sources.get(key);
    if (!source) {
      const X = data.X.slice(head * d, n * d);
      if (key) X.set(key.X, (rows - r) * d);
      source = own(buffer(device, X.byteLength, USAGE.STORAGE | USAGE.COPY_DST, "tail rows"));
      device.queue.writeBuffer(source, 0, X);
      sources.set(key, source);
    }
    const first = layout.offsets[i] / C;
    for (let row = 0; row < rows; row++) {
      const label = row >= rows - r ? blk.replaced!.y[row - (rows - r)] : data.y[head + row];
      y.fill(label, row * T + first, row * T + first + blk.params.chains);
    }
    return { offset: layout.offsets[i], cols: layout.cols[i], source };
  });
  // Neighbouring blocks that see the same rows (e.g. all the blocks on D) are multiplied as one.
  const merged: TailPlan["blocks"] = [];
  for (const blk of tailBlocks) {
    const last = merged.at(-1);
    if (last && last.source === blk.source && last.offset + last.cols === blk.offset) last.cols += blk.cols;
    else merged.push({ ...blk });
  }
  const Z = own(buffer(device, rows * layout.total * 4, USAGE.STORAGE, "tail Z"));
  const yBuf = own(buffer(device, y.byteLength, USAGE.STORAGE | USAGE.COPY_DST, "tail labels"));
  device.queue.writeBuffer(yBuf, 0, y);
  return { head, rows, blocks: merged, Z, y: yBuf };
}

export async function createWebGpuEngine(
  options: EngineOptions = {},
  tuning: WebGpuEngineTuning = {},
): Promise<WebGpuEngine> {
  if (options.device !== undefined && options.device !== "gpu")
    throw new EngineInputError(
      `the webgpu engine runs on a WebGPU adapter (device "gpu"); device "${options.device}" is not available`,
    );
  const { gpu, version } = await loadDawn(tuning.dawnOptions ?? []);
  const { device, info } = await openDevice(gpu);
  const software = info.isFallbackAdapter || info.architecture === "software";
  let lost: string | null = null;
  void device.lost.then((l) => {
    lost = `${l.reason}: ${l.message}`;
  });
  // A validation or out-of-memory error in a dispatch is reported asynchronously; record the first
  // so that the read-back that follows fails with it instead of returning zeros.
  const errors: string[] = [];
  device.onuncapturederror = (event) => {
    if (errors.length === 0) errors.push(event.error.message);
  };
  let tile = tuning.tile ?? (software ? { tm: 4, tn: 4 } : { tm: 8, tn: 8 });
  // An adapter without room for the 8×8 tile's workgroup memory gets the 4×4 one.
  if (matmulSharedBytes(tile) > device.limits.maxComputeWorkgroupStorageSize) tile = { tm: 4, tn: 4 };
  const steppers = new Set<{ dispose(): Promise<void> }>();
  // Binary logistic regression is the common case: its kernels are compiled with the engine, so that
  // a stepper starts at once (on a software adapter of a loaded machine compiling takes seconds).
  const compiled = new Map<number, Promise<Pipelines>>([[2, createPipelines(device, 2, tile)]]);
  await compiled.get(2);
  // Kernels depend only on the number of classes (and the tile): compiled once per engine.
  const pipelinesFor = (classes: number): Promise<Pipelines> => {
    let pipelines = compiled.get(classes);
    if (!pipelines) {
      pipelines = createPipelines(device, classes, tile);
      pipelines.catch(() => compiled.delete(classes));
      compiled.set(classes, pipelines);
    }
    return pipelines;
  };
  // dawn.node tears its instance down when the object `create` returned is collected, even with a
  // device still open (crashes with "std::system_error" or a futex error): the engine holds it.
  let instance: GPU | null = gpu;
  const description = info.description || `${info.vendor} ${info.architecture} ${info.device}`.trim();
  return {
    name: "webgpu",
    device: software ? "cpu" : "gpu",
    backend: `webgpu ${version} (Dawn) on "${description}"${software ? " (software adapter)" : ""}, tile ${16 * tile.tm}×${16 * tile.tn}`,
    adapter: { vendor: info.vendor, architecture: info.architecture, description, software },
    async createStepper(data: TrainMatrix, params: StepParams): Promise<Stepper> {
      checkTrainMatrix(data);
      checkStepParams(params);
      if (!instance) throw new Error("webgpu engine: this engine has been disposed");
      if (lost) throw new Error(`webgpu engine: the GPU device was lost (${lost})`);
      const cols = weightColumns(data, params);
      const plan = planFor(device, data, cols, tile, tuning, software);
      const pipelines = pipelinesFor(data.classes);
      const buffers = createBuffers(device, data, cols, params.chains, plan, plan.blocks);
      const program = buildProgram({
        device,
        data,
        T: params.chains,
        cols,
        plan,
        sBlocks: plan.blocks,
        tile,
        p: await pipelines,
        b: buffers,
        tail: null,
        batchNoise: null,
      });
      const stepper: WebGpuStepper = new WebGpuStepper(device, data, params, buffers, program, errors, () =>
        steppers.delete(stepper),
      );
      steppers.add(stepper);
      return stepper;
    },
    async createBatchStepper(data: TrainMatrix, blocks: readonly ColumnBlock[]): Promise<BatchStepper> {
      checkTrainMatrix(data);
      checkBlocks(data, blocks);
      if (!instance) throw new Error("webgpu engine: this engine has been disposed");
      if (lost) throw new Error(`webgpu engine: the GPU device was lost (${lost})`);
      const pipelines = await pipelinesFor(data.classes);
      const layout = batchLayout(data, blocks);
      const C = data.classes === 2 ? 1 : data.classes;
      const cols = layout.total;
      const T = cols / C;
      // Rows some block replaces start at `head`, a multiple of COEF_ROWS (the binary clip-factor
      // sums' blocks and the X chunks' 256-byte offsets line up); rows before it are shared.
      const replaced = Math.max(...blocks.map(replacedCount));
      const head = replaced === 0 ? data.n : Math.floor((data.n - replaced) / COEF_ROWS) * COEF_ROWS;
      const rows = data.n - head;
      const plan: StepPlan =
        head > 0
          ? planFor(device, { ...data, n: head }, cols, tile, tuning, software)
          : { chunks: [], chunkRows: 0, splits: 1, kSplit: 16, blocks: 0 };
      const sBlocks = head / COEF_ROWS + Math.ceil(rows / COEF_ROWS);
      // The tail is not cut into chunks: its Z (rows × cols) must fit one storage binding.
      const tailBytes = rows * cols * 4;
      if (tailBytes > device.limits.maxStorageBufferBindingSize) {
        throw new Error(
          `webgpu engine: the ${rows} replaced rows of this batch × ${cols} columns (${tailBytes} bytes) ` +
            `exceed one storage binding (${device.limits.maxStorageBufferBindingSize} bytes); use fewer columns per batch`,
        );
      }
      const b = createBuffers(device, data, cols, T, plan, sBlocks);
      const own = (buf: GPUBuffer) => {
        b.uniforms.push(buf);
        return buf;
      };
      device.queue.writeBuffer(
        b.chain,
        0,
        chainParams(blocks.flatMap((blk) => Array<StepParams>(blk.params.chains).fill(blk.params))),
      );
      const tail = rows > 0 ? tailPlan(device, data, blocks, layout, head, own) : null;
      const words = new Uint32Array(8 * blocks.length);
      blocks.forEach((blk, i) => {
        const [k0, k1] = philoxKey(blk.noiseKey);
        const c = layout.cols[i];
        words.set([k0, k1, 0, c, layout.offsets[i], data.d * c, blk.params.sigma > 0 ? 1 : 0, 0], 8 * i);
      });
      const table = own(buffer(device, words.byteLength, USAGE.STORAGE | USAGE.COPY_DST, "noise blocks"));
      const widest = Math.max(...layout.cols) * data.d;
      const program = buildProgram({
        device,
        data,
        T,
        cols,
        plan,
        sBlocks,
        tile,
        p: pipelines,
        b,
        tail,
        batchNoise: { table, widest, blocks: blocks.length },
      });
      const stepper: WebGpuBatchStepper = new WebGpuBatchStepper(
        device,
        data,
        blocks,
        b,
        program,
        { buffer: table, words },
        errors,
        () => steppers.delete(stepper),
      );
      steppers.add(stepper);
      return stepper;
    },
    async dispose(): Promise<void> {
      await Promise.all([...steppers].map((s) => s.dispose()));
      device.destroy();
      instance = null;
    },
  };
}
