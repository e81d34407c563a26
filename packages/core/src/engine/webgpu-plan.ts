/**
 * How a step of the `webgpu` engine is cut to the device's limits (pure, so it is tested without a
 * GPU): rows of X go in chunks whose X block and Z = X_b·W block each fit one storage binding and a
 * memory budget; the backward product Xᵀ·R is split over rows ("split-K") so that its short d×cols
 * output still gives the GPU enough workgroups.
 */
import { COEF_ROWS, type MatmulShape, matmulTile } from "./webgpu-kernels.ts";

export interface PlanLimits {
  /** GPUDevice.limits.maxStorageBufferBindingSize (bytes). */
  maxBinding: number;
  /** GPUDevice.limits.maxBufferSize (bytes). */
  maxBuffer: number;
}

export interface PlanInput {
  n: number;
  d: number;
  /** Columns of W: T binary, T·C multiclass. */
  cols: number;
  tile: MatmulShape;
  /** Upper bound on the bytes of one Z chunk (rows × cols floats). */
  maxChunkBytes: number;
  /** Workgroups the backward product should have at least (hardware GPUs want ~1000; llvmpipe few). */
  targetWorkgroups: number;
  /** Fewest rows one split-K slice takes (more slices cost memory and a longer sum in the update). */
  minSliceRows: number;
}

export interface StepPlan {
  chunks: { start: number; rows: number }[];
  chunkRows: number;
  /** Slices of the backward product's rows (K); G holds `splits` partial d×cols sums. */
  splits: number;
  /** Rows per slice, a multiple of the matmul's K tile (16). */
  kSplit: number;
  /** Blocks of COEF_ROWS rows over all of n (binary clip-factor sums). */
  blocks: number;
}

const F32 = 4;
const K_TILE = 16;

function fail(message: string): never {
  throw new Error(`webgpu engine: ${message}`);
}

export function planStep(input: PlanInput, limits: PlanLimits): StepPlan {
  const { n, d, cols, tile, maxChunkBytes, targetWorkgroups, minSliceRows } = input;
  const { maxBinding, maxBuffer } = limits;
  if (n * d * F32 > maxBuffer)
    fail(`X (${n}×${d} float32, ${n * d * F32} bytes) exceeds the device's maxBufferSize ${maxBuffer}`);
  const widest = Math.max(cols, d) * F32;
  // Chunks start at multiples of COEF_ROWS rows: the binary kernel's row blocks line up across chunks,
  // and an X chunk's byte offset (64·d·4 = 256·d) meets WebGPU's 256-byte storage offset alignment.
  const fit = Math.floor(Math.min(maxBinding, maxChunkBytes) / widest / COEF_ROWS) * COEF_ROWS;
  if (fit < COEF_ROWS)
    fail(
      `a block of ${COEF_ROWS} rows × ${Math.max(cols, d)} columns does not fit one storage binding ` +
        `(${maxBinding} bytes); use fewer chains per stepper`,
    );
  const chunkRows = Math.min(fit, Math.ceil(n / COEF_ROWS) * COEF_ROWS);
  const chunks: { start: number; rows: number }[] = [];
  for (let start = 0; start < n; start += chunkRows)
    chunks.push({ start, rows: Math.min(chunkRows, n - start) });

  const t = matmulTile(tile);
  const tiles = Math.ceil(d / t.rows) * Math.ceil(cols / t.cols);
  const maxSplitsByMemory = Math.max(1, Math.floor(maxBinding / (d * cols * F32)));
  const maxSplitsByRows = Math.max(1, Math.floor(chunkRows / minSliceRows));
  let splits = Math.min(Math.ceil(targetWorkgroups / tiles), maxSplitsByMemory, maxSplitsByRows);
  splits = Math.max(1, splits);
  const kSplit = Math.ceil(Math.ceil(chunkRows / splits) / K_TILE) * K_TILE;
  splits = Math.ceil(chunkRows / kSplit);
  return { chunks, chunkRows, splits, kSplit, blocks: Math.ceil(n / COEF_ROWS) };
}
