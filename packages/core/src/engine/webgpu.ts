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
 */
import { createRequire } from "node:module";
import { PhiloxNoise } from "./philox.ts";
import { runLoop } from "./run-loop.ts";
import type {
  Engine,
  EngineOptions,
  NoiseSource,
  StepParams,
  Stepper,
  StepRunOptions,
  TrainMatrix,
} from "./types.ts";
import {
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
import { PHILOX_NOISE } from "./webgpu-noise.ts";
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
  };
}

/** The GPU buffers of one stepper. */
interface Buffers {
  X: GPUBuffer;
  y: GPUBuffer;
  W: [GPUBuffer, GPUBuffer];
  Z: GPUBuffer;
  G: GPUBuffer;
  xi: GPUBuffer;
  noiseScale: GPUBuffer;
  lastStep: GPUBuffer;
  reg: GPUBuffer;
  wsq: GPUBuffer;
  sPart: GPUBuffer;
  updateParams: GPUBuffer;
  noiseParams: GPUBuffer;
  readback: GPUBuffer;
  uniforms: GPUBuffer[];
}

function createBuffers(
  device: GPUDevice,
  data: TrainMatrix,
  cols: number,
  T: number,
  plan: StepPlan,
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
    noiseScale: buffer(device, T * 4, S | DST, "noise scale"),
    lastStep: buffer(device, T * 4, S | DST, "last step"),
    reg: buffer(device, T * 4, S | DST, "reg"),
    wsq: buffer(device, T * 4, S, "wsq"),
    sPart: buffer(device, plan.blocks * T * 4, S, "s sums"),
    updateParams: buffer(device, 32, USAGE.UNIFORM | DST, "update params"),
    noiseParams: buffer(device, 16, USAGE.UNIFORM | DST, "noise params"),
    readback: buffer(device, wBytes, USAGE.MAP_READ | DST, "readback"),
    uniforms: [],
  };
  device.queue.writeBuffer(b.X, 0, data.X);
  device.queue.writeBuffer(b.y, 0, data.y);
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
  /** Draws ξ into its buffer on the GPU (PhiloxNoise), before the step. */
  encodeNoise(pass: GPUComputePassEncoder): void;
}

interface ProgramInput {
  device: GPUDevice;
  data: TrainMatrix;
  params: StepParams;
  plan: StepPlan;
  tile: MatmulShape;
  p: Pipelines;
  b: Buffers;
}

/** The same bind group for both W buffers (ops that do not touch W). */
const both = (g: GPUBindGroup): [GPUBindGroup, GPUBindGroup] => [g, g];

/** X·W, the clip coefficients and Xᵀ·R for each row chunk. */
function chunkOps({ device, data, params, plan, tile, p, b }: ProgramInput): Op[] {
  const { d } = data;
  const T = params.chains;
  const cols = weightColumns(data, params);
  const t = matmulTile(tile);
  const keep = (u: GPUBuffer) => {
    b.uniforms.push(u);
    return u;
  };
  return plan.chunks.flatMap((c, index): Op[] => {
    const x = { buffer: b.X, offset: c.start * d * 4, size: c.rows * d * 4 };
    const fwdDims = keep(uniform(device, [c.rows, cols, d, d, 0], "X.W dims"));
    const bwdDims = keep(uniform(device, [d, cols, c.rows, plan.kSplit, index > 0 ? 1 : 0], "Xt.R dims"));
    const coefParams = keep(
      uniform(device, [c.rows, T, c.start, 0, [params.m, "f32"], [params.clip, "f32"], 0, 0], "coef params"),
    );
    const forward = (w: 0 | 1) => bindGroup(device, p.forward, [x, b.W[w], b.Z, fwdDims]);
    const binary = data.classes === 2;
    const coef = bindGroup(
      device,
      p.coef,
      binary ? [b.Z, b.y, b.wsq, b.sPart, coefParams] : [b.Z, b.y, coefParams],
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

function buildProgram(input: ProgramInput): Program {
  const { device, data, params, plan, p, b } = input;
  const { d } = data;
  const T = params.chains;
  const cols = weightColumns(data, params);
  const ops: Op[] = [];
  if (p.norms) {
    const params4 = uniform(device, [d, T, 0, 0], "norm params");
    b.uniforms.push(params4);
    const norms = (w: 0 | 1) => bindGroup(device, p.norms!, [b.W[w], b.wsq, params4]);
    ops.push({ pipeline: p.norms, groups: [norms(0), norms(1)], grid: [Math.ceil(T / 64)] });
  }
  ops.push(...chunkOps(input));
  if (p.reg) {
    const regParams = uniform(device, [plan.blocks, T, [data.n, "f32"], 0], "reg params");
    b.uniforms.push(regParams);
    ops.push({
      pipeline: p.reg,
      groups: both(bindGroup(device, p.reg, [b.sPart, b.reg, regParams])),
      grid: [Math.ceil(T / 64)],
    });
  }
  const update = (w: 0 | 1) =>
    bindGroup(device, p.update, [
      b.W[w],
      b.W[1 - w],
      b.G,
      b.xi,
      b.noiseScale,
      b.lastStep,
      b.reg,
      b.updateParams,
    ]);
  ops.push({ pipeline: p.update, groups: [update(0), update(1)], grid: grid(Math.ceil((d * cols) / 64)) });
  const noise: Op = {
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
    const scale = Float32Array.from(this.sigmas, (s) => Math.sqrt(2 * this.params.eta * s * s));
    this.device.queue.writeBuffer(this.buffers.noiseScale, 0, scale);
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
    const { eta, m } = this.params;
    const u = new ArrayBuffer(32);
    new Uint32Array(u, 0, 4).set([this.length, this.cols, this.program.splits, step]);
    new Float32Array(u, 16, 3).set([eta, m, this.data.n]);
    new Uint32Array(u, 28, 1)[0] = xi || fill ? 1 : 0;
    this.device.queue.writeBuffer(this.buffers.updateParams, 0, u);
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
    const { readback } = this.buffers;
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.buffers.W[cur], 0, readback, 0, this.length * 4);
    this.device.queue.submit([encoder.finish()]);
    await readback.mapAsync(MAP_READ, 0, this.length * 4);
    const out = new Float32Array(readback.getMappedRange(0, this.length * 4).slice(0));
    readback.unmap();
    if (this.errors.length > 0)
      throw new Error(`webgpu engine: the GPU reported an error: ${this.errors[0]}`);
    return out;
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
    const b = this.buffers;
    for (const buf of [b.X, b.y, ...b.W, b.Z, b.G, b.xi, b.noiseScale, b.lastStep, b.reg, b.wsq, b.sPart])
      buf.destroy();
    for (const buf of [b.updateParams, b.noiseParams, b.readback, ...b.uniforms]) buf.destroy();
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
  const steppers = new Set<WebGpuStepper>();
  // Binary logistic regression is the common case: its kernels are compiled with the engine, so that
  // a stepper starts at once (on a software adapter of a loaded machine compiling takes seconds).
  const compiled = new Map<number, Promise<Pipelines>>([[2, createPipelines(device, 2, tile)]]);
  await compiled.get(2);
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
      // Kernels depend only on the number of classes (and the tile): compiled once per engine.
      let pipelines = compiled.get(data.classes);
      if (!pipelines) {
        pipelines = createPipelines(device, data.classes, tile);
        pipelines.catch(() => compiled.delete(data.classes));
        compiled.set(data.classes, pipelines);
      }
      const buffers = createBuffers(device, data, cols, params.chains, plan);
      const program = buildProgram({ device, data, params, plan, tile, p: await pipelines, b: buffers });
      const stepper: WebGpuStepper = new WebGpuStepper(device, data, params, buffers, program, errors, () =>
        steppers.delete(stepper),
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
