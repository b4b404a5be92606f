import { executeRoute, ZExecuteInput, ZExecuteOutput, ZIdempotencyKey } from "@spell/contracts";
import { z } from "zod";
import { headerIdempotencyKey, publicProcedure, routeMeta } from "../../trpc.ts";

const ZExecuteHeaders = z.object({
  "idempotency-key": ZIdempotencyKey.optional().meta({
    description:
      "A repeat with the same key returns the first result and runs nothing; a body idempotencyKey wins",
  }),
});

/**
 * Built on the public procedure on purpose: the token check is the first step of the engine's
 * pipeline, so this route does exactly one thing per request and the hot path stays short.
 */
export const executeProcedure = publicProcedure
  .meta(
    routeMeta(
      executeRoute,
      [
        "USER_BANNED",
        "VISIBILITY_DENIED",
        "SPELL_NOT_FOUND",
        "IDEMPOTENCY_CONFLICT",
        "PAYMENT_METHOD_REQUIRED",
        "BILLING_FAILED",
        "PAYMENT_REQUIRES_ACTION",
        "BILLING_NOT_CONFIGURED",
        "RUNTIME_ERROR",
        "RUNTIME_MEMORY_LIMIT",
        "RUNTIME_OUTPUT_LIMIT",
        "RUNTIME_TIMEOUT",
      ],
      { requestHeaders: ZExecuteHeaders },
    ),
  )
  .input(ZExecuteInput)
  .output(ZExecuteOutput)
  .mutation(({ ctx, input }) =>
    ctx.engine.executeSpell(ctx.authorization, {
      ...input,
      idempotencyKey: input.idempotencyKey ?? headerIdempotencyKey(ctx),
    }),
  );
