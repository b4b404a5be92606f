import { describe, expect, it } from "vitest";
import {
  AppError,
  ERROR_CODES,
  ERROR_STATUS,
  toAppError,
  ZArtifactInput,
  ZErrorBody,
  ZExecuteInput,
  ZPublishInput,
  ZSlug,
} from "./index.ts";

describe("slug grammar", () => {
  it.each(["echo@v1", "resize@v12", "a@v0", "my-spell.v2_x@v3", "0day@v1"])("accepts %s", (slug) => {
    expect(ZSlug.safeParse(slug).success).toBe(true);
  });

  it.each([
    "Echo@v1",
    "echo",
    "echo@1",
    "echo@V1",
    "echo@v",
    "-echo@v1",
    ".echo@v1",
    "echo@v1 ",
    "ec ho@v1",
    "echo@v1@v2",
    `${"a".repeat(100)}@v1`,
  ])("refuses %j", (slug) => {
    expect(ZSlug.safeParse(slug).success).toBe(false);
  });
});

describe("error table", () => {
  it.each([
    ["VALIDATION_ERROR", 400],
    ["UNAUTHORIZED", 401],
    ["PAYMENT_METHOD_REQUIRED", 402],
    ["USER_BANNED", 403],
    ["FORBIDDEN", 403],
    ["VISIBILITY_DENIED", 403],
    ["SPELL_NOT_FOUND", 404],
    ["NOT_FOUND", 404],
    ["IDEMPOTENCY_CONFLICT", 409],
    ["PAYLOAD_TOO_LARGE", 413],
    ["UNSUPPORTED_MEDIA_TYPE", 415],
    ["INTERNAL_ERROR", 500],
    ["BILLING_NOT_CONFIGURED", 501],
    ["RUNTIME_TIMEOUT", 504],
  ] as const)("%s answers %i", (code, status) => {
    expect(ERROR_STATUS[code]).toBe(status);
    expect(new AppError(code, "m").status).toBe(status);
  });

  it("lists every code once, each with a 4xx or 5xx status", () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) expect(ERROR_STATUS[code]).toBeGreaterThanOrEqual(400);
  });

  it("renders the unified error body", () => {
    const body = new AppError("SPELL_NOT_FOUND", "No spell x@v1", { spell: "x@v1" }).toBody();
    expect(body).toEqual({
      ok: false,
      error: { code: "SPELL_NOT_FOUND", message: "No spell x@v1", details: { spell: "x@v1" } },
    });
    expect(ZErrorBody.parse(body)).toEqual(body);
  });

  it("turns unexpected throws into INTERNAL_ERROR without their message", () => {
    const error = toAppError(new Error("password=hunter2 at db.ts:12"));
    expect(error.toBody()).toEqual({
      ok: false,
      error: { code: "INTERNAL_ERROR", message: "Internal error", details: {} },
    });
    const known = new AppError("FORBIDDEN", "no");
    expect(toAppError(known)).toBe(known);
  });
});

describe("procedure schemas", () => {
  it("execute input defaults to an empty object and never coerces types", () => {
    expect(ZExecuteInput.parse({ spell: "echo@v1" })).toEqual({ spell: "echo@v1", input: {} });
    expect(ZExecuteInput.safeParse({ spell: "echo@v1", input: "text" }).success).toBe(false);
    expect(ZExecuteInput.safeParse({ spell: "echo@v1", input: [1] }).success).toBe(false);
    expect(ZExecuteInput.safeParse({ spell: 5 }).success).toBe(false);
  });

  it("artifacts are exactly one of builtin, apiEndpoint or wasmBase64", () => {
    expect(ZArtifactInput.safeParse({ builtin: "echo" }).success).toBe(true);
    expect(ZArtifactInput.safeParse({ apiEndpoint: "https://example.com/run" }).success).toBe(true);
    expect(ZArtifactInput.safeParse({ wasmBase64: "AGFzbQEAAAA=" }).success).toBe(true);
    expect(ZArtifactInput.safeParse({ builtin: "echo", apiEndpoint: "https://x.test" }).success).toBe(false);
    expect(ZArtifactInput.safeParse({ apiEndpoint: "ftp://x.test" }).success).toBe(false);
    expect(ZArtifactInput.safeParse({ wasmBase64: "not base64!" }).success).toBe(false);
  });

  it("publish input leaves omitted fields unset (a republish keeps them) and refuses a string price", () => {
    const parsed = ZPublishInput.parse({ slug: "x@v1", runtime: "builtin", artifact: { builtin: "echo" } });
    expect(parsed).toEqual({ slug: "x@v1", runtime: "builtin", artifact: { builtin: "echo" } });
    expect(
      ZPublishInput.safeParse({
        slug: "x@v1",
        runtime: "builtin",
        artifact: { builtin: "echo" },
        priceAmount: "50",
      }).success,
    ).toBe(false);
  });
});
