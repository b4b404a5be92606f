/** A row of `me`'s `usage.recent` as the server answers it: a succeeded free echo run unless `overrides` say. */
export const recentRun = (overrides: object = {}) => ({
  executionId: "exe_a",
  slug: "echo@v1",
  runtime: "builtin",
  status: "succeeded",
  errorCode: null,
  amount: 0,
  currency: "usd",
  durationMs: 4,
  createdAt: "2026-12-01T10:00:00.000Z",
  ...overrides,
});
