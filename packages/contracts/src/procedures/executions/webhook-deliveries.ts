import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { ZExecutionView } from "./get.ts";

export const ZWebhookAttempt = z
  .object({
    attemptedAt: z.iso.datetime(),
    outcome: z.enum(["delivered", "failed", "refused"]),
    /** The receiver's HTTP status; null when no response came (network error, timeout, refused). */
    statusCode: z.number().int().nullable(),
    error: z.string().nullable(),
    durationMs: z.number().int().min(0),
  })
  .meta({ id: "WebhookAttempt" });

export const ZWebhookDelivery = z
  .object({
    /** The `webhook-id` header: stable across retries, so a receiver can drop repeats. */
    deliveryId: z.string(),
    event: z.enum(["start", "completed"]),
    url: z.string(),
    status: z.enum(["pending", "delivered", "failed", "refused"]).meta({
      description:
        "pending: not delivered yet (retries left); delivered: a 2xx answer; failed: retries spent; refused: the receiver resolved to a forbidden address",
    }),
    attempts: z.array(ZWebhookAttempt),
    lastError: z.string().nullable(),
    createdAt: z.iso.datetime(),
    finishedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: "WebhookDelivery" });
export type WebhookDeliveryView = z.infer<typeof ZWebhookDelivery>;

export const ZWebhookDeliveriesInput = z.object({ id: z.string().min(1).max(100) });
export const ZWebhookDeliveriesOutput = z.object({
  ok: z.literal(true),
  executionId: z.string(),
  deliveries: z.array(ZWebhookDelivery),
});
export type WebhookDeliveriesOutput = z.infer<typeof ZWebhookDeliveriesOutput>;

/** The body of every delivery (Standard Webhooks: `type`, `timestamp`, `data`). */
export const ZRunWebhookPayload = z.object({
  type: z.enum(["execution.started", "execution.completed"]),
  /** When the event happened (the state change), ISO 8601. */
  timestamp: z.iso.datetime(),
  /** The execution as `GET /api/executions/get` answers it when the delivery is first attempted. */
  data: ZExecutionView,
});

export const webhookDeliveriesContract = defineProcedure({
  route: {
    method: "GET",
    path: "/executions/{id}/webhook-deliveries",
    summary: "The webhook deliveries of one of your executions, with every attempt",
    tags: ["executions"],
    access: "user",
  },
  input: ZWebhookDeliveriesInput,
  output: ZWebhookDeliveriesOutput,
  errors: ["USER_BANNED", "NOT_FOUND"],
});
export const webhookDeliveriesRoute = webhookDeliveriesContract.route;
