import { AppError, ERROR_CODES, ERROR_STATUS, HTTP_ONLY_ERROR_CODES } from "@spell/contracts";
import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { describe, expect, it } from "vitest";
import { appErrorFromTRPC, trpcCodeOf } from "./errors.ts";

describe("error mapping", () => {
  // Raised by the HTTP parser below tRPC, so no tRPC code needs (or has) their status.
  const crossingTrpc = ERROR_CODES.filter((code) => !HTTP_ONLY_ERROR_CODES.includes(code));
  it.each(crossingTrpc)("%s maps to a tRPC code with the same HTTP status", (code) => {
    const trpcError = new TRPCError({ code: trpcCodeOf(code) });
    expect(getHTTPStatusCodeFromError(trpcError)).toBe(ERROR_STATUS[code]);
  });

  it("keeps an AppError thrown inside a procedure as it is", () => {
    const cause = new AppError("VISIBILITY_DENIED", "no", { spell: "x@v1" });
    const mapped = appErrorFromTRPC(new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause }));
    expect(mapped).toBe(cause);
  });

  it("turns zod input issues into VALIDATION_ERROR with the issues as plain JSON", () => {
    const cause = Object.assign(new Error("bad"), {
      issues: [{ code: "invalid_type", path: ["spell", 0], message: "expected string", input: "secret" }],
    });
    const mapped = appErrorFromTRPC(new TRPCError({ code: "BAD_REQUEST", cause }));
    expect(mapped.code).toBe("VALIDATION_ERROR");
    expect(mapped.details).toEqual({
      issues: [{ code: "invalid_type", path: ["spell", 0], message: "expected string" }],
    });
  });

  it.each([
    ["PARSE_ERROR", "MALFORMED_JSON"],
    ["NOT_FOUND", "NOT_FOUND"],
    ["METHOD_NOT_SUPPORTED", "METHOD_NOT_ALLOWED"],
    ["PAYLOAD_TOO_LARGE", "PAYLOAD_TOO_LARGE"],
    ["UNSUPPORTED_MEDIA_TYPE", "UNSUPPORTED_MEDIA_TYPE"],
    ["TIMEOUT", "INTERNAL_ERROR"],
  ] as const)("framework error %s becomes %s", (trpcCode, code) => {
    expect(appErrorFromTRPC(new TRPCError({ code: trpcCode })).code).toBe(code);
  });

  it("hides the message of an unexpected failure", () => {
    const cause = new Error("password=hunter2 at db.internal:5432");
    const mapped = appErrorFromTRPC(new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause }));
    expect(mapped.code).toBe("INTERNAL_ERROR");
    expect(mapped.message).toBe("Internal error");
    expect(JSON.stringify(mapped.toBody())).not.toContain("hunter2");
  });
});
