/** @unlearn/core: datasets, removal, the Langevin / D2D algorithms, accuracy (docs/science.md §1–4), and the engines. */

export { testAccuracy } from "./accuracy.ts";
export {
  type D2dLearnOptions,
  type D2dUnlearnOptions,
  d2dLearn,
  d2dLearnJob,
  d2dPublish,
  d2dUnlearn,
  d2dUnlearnJob,
  type InitialChainsOptions,
  initialChains,
  type JobCommon,
  type LangevinLearnOptions,
  type LangevinUnlearnOptions,
  langevinLearn,
  langevinLearnJob,
  langevinUnlearn,
  langevinUnlearnJob,
  type RunCommon,
} from "./algorithms.ts";
export {
  CIFAR10_CLASSES,
  CIFAR10_FILES,
  CIFAR10_RECORD_BYTES,
  CIFAR10_RECORDS_PER_FILE,
  type Cifar10Data,
  Cifar10Error,
  type Cifar10File,
  cifar10Labels,
  readCifar10,
} from "./cifar10.ts";
export {
  DEFAULT_BATCH,
  type ExtractCifar10Options,
  type ExtractProgress,
  type ExtractSummary,
  extractCifar10Features,
  PARTIAL_DIR,
  PROVENANCE_FILE,
} from "./cifar10-features.ts";
export {
  cutAtGlobalPool,
  FEATURE_DIM,
  type FeatureModel,
  FeatureModelError,
  loadFeatureModel,
  MODEL_FORMATS,
  type ModelFormat,
} from "./cifar10-model.ts";
export { bilinearTaps, CifarPreprocessor, IMAGENET_MEAN, IMAGENET_STD } from "./cifar10-preprocess.ts";
export {
  type ConstantsOptions,
  cachedLambdaMax,
  type Dataset,
  type DatasetConstants,
  datasetConstants,
  defaultCacheDir,
  type LoadDatasetOptions,
  loadDataset,
  trainChecksum,
} from "./dataset.ts";
export * from "./engine/index.ts";
export { AlgorithmInputError, DatasetError } from "./errors.ts";
export {
  FEATURE_FILES,
  FEATURES_MANIFEST,
  type FeatureSelection,
  featuresKey,
  loadFeatureDir,
  writeFeaturesManifest,
} from "./features.ts";
export { type IdxArray, parseIdx } from "./idx.ts";
export { lambdaMaxGram, normalizeRows } from "./linalg.ts";
export { loadMnist3v8, MNIST_FILES, mnistDataDir } from "./mnist.ts";
export {
  encodeNpy,
  type NpyArray,
  type NpyData,
  type NpyDtype,
  NpyError,
  parseNpy,
  readNpy,
  writeNpy,
} from "./npy.ts";
export { replacedRows, replacementRow, withReplacedRows } from "./removal.ts";
export { deriveSeed, GaussianStream, type SeedPart } from "./rng.ts";
