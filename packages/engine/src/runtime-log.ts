/**
 * A failed run's diagnostics (a wasm guest's stderr up to its cap) travel beside the thrown AppError,
 * not in its details: details go to the caller, the log only to the execution row.
 */
const logs = new WeakMap<object, string>();

export function attachRuntimeLog<E extends object>(error: E, log: string): E {
  if (log.length > 0) logs.set(error, log);
  return error;
}

export function runtimeLogOf(error: unknown): string | null {
  return typeof error === "object" && error !== null ? (logs.get(error) ?? null) : null;
}
