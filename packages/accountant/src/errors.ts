/**
 * The one error type of the accountant: every impossible or malformed request (ε ≤ 0, σ ≤ 0, S > n,
 * a target below the reachable floor, …) throws this, never returns NaN and never loops forever.
 * `field` names the argument at fault so that callers (the CLI, the sweep planner) can point at the
 * flag or config key; `floor` is set when a target ε is below what any number of steps can reach.
 */
export class AccountantError extends Error {
  override readonly name = "AccountantError";
  readonly field: string | undefined;
  readonly floor: number | undefined;

  constructor(message: string, options: { field?: string; floor?: number } = {}) {
    super(message);
    this.field = options.field;
    this.floor = options.floor;
  }
}

/** Throws unless `value` is a finite number > 0. */
export function requirePositive(field: string, value: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new AccountantError(`${field} must be a finite number > 0, got ${String(value)}`, { field });
  }
}

/** Throws unless `value` is an integer ≥ `min`. */
export function requireInteger(field: string, value: number, min: number): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new AccountantError(`${field} must be an integer ≥ ${min}, got ${String(value)}`, { field });
  }
}
