import { AppError, executeContract, ZExecuteAccepted } from "@spell/contracts";
import { asyncOptionsOf, headerIdempotencyKey, publicProcedure, routeMeta } from "../../trpc.ts";
import { executionsOf } from "../executions/operations.ts";

/**
 * A call with a webhook but no asynchronous `Prefer` goes through the queue (its deliveries come
 * from the run's state changes there) and still answers synchronously when the run finishes within
 * 60 s — the longest `Prefer: wait` — else 202 with `Location`: it is read as `Prefer: wait=60`
 * (so `Cancel-After` applies to it as well).
 */
const WEBHOOK_DEFAULT_PREFER = "wait=60";

/**
 * Built on the public procedure on purpose: the token check is the first step of the engine's
 * pipeline, so this route does exactly one thing per request and the hot path stays short. With
 * `Prefer: respond-async` / `wait=N` or a `webhook` the run is queued (issue 13) and the answer may
 * be the accepted execution (REST: 202 with `Location`); without them nothing else is touched.
 */
export const executeProcedure = publicProcedure
  .meta(routeMeta(executeContract))
  .input(executeContract.input)
  .output(executeContract.output.or(ZExecuteAccepted))
  .mutation(async ({ ctx, input }) => {
    const request = {
      ...input,
      idempotencyKey: input.idempotencyKey ?? headerIdempotencyKey(ctx),
      notes: ctx.notes,
    };
    const asyncOptions = ctx.prefer === undefined ? null : asyncOptionsOf(ctx);
    if (input.webhook !== undefined) {
      // The pipeline's first steps (token, ban) before anything about the webhook: a stranger or
      // a banned caller gets its 401/403, not a verdict on the URL or on this server's setup.
      await ctx.engine.authenticate(ctx.authorization, "user");
      // Refused before anything is written: no job engine (or no signing secret), or a URL the
      // SSRF policy refuses without DNS (the name is checked again at every delivery).
      const webhooks = ctx.engine.webhooks;
      if (!webhooks) {
        throw new AppError(
          "SERVICE_UNAVAILABLE",
          "Webhooks need asynchronous executions (a job engine and a signing secret) on this server",
          { reason: "async_unavailable" },
        );
      }
      webhooks.check(input.webhook.url);
      const options = asyncOptions ??
        asyncOptionsOf({ ...ctx, prefer: WEBHOOK_DEFAULT_PREFER }) ?? { waitMs: 60_000 };
      return executionsOf(ctx.engine).executeAsync(ctx.authorization, request, options);
    }
    if (asyncOptions === null) return ctx.engine.executeSpell(ctx.authorization, request);
    return executionsOf(ctx.engine).executeAsync(ctx.authorization, request, asyncOptions);
  });
