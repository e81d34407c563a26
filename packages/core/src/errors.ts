/** A dataset that cannot be loaded or a data argument that is out of range; the message names the culprit. */
export class DatasetError extends Error {
  override name = "DatasetError";
}

/** A bad argument to one of the algorithms (docs/science.md §3–4); the message names the field. */
export class AlgorithmInputError extends Error {
  override name = "AlgorithmInputError";
}
