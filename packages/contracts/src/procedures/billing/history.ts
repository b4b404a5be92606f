import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { ZLedgerEntry } from "./prepaid.ts";

export const ZHistoryInput = z.object({
  limit: z.coerce.number().int().min(1).max(500).optional().meta({ description: "default 50" }),
});
export const ZHistoryOutput = z.object({ ok: z.literal(true), entries: z.array(ZLedgerEntry) });
export type HistoryOutput = z.infer<typeof ZHistoryOutput>;

export const historyContract = defineProcedure({
  route: {
    method: "GET",
    path: "/billing/history",
    summary: "Prepaid mode: the caller's ledger entries, newest first",
    tags: ["billing"],
    access: "user",
  },
  input: ZHistoryInput.optional(),
  output: ZHistoryOutput,
  errors: ["USER_BANNED", "BILLING_NOT_CONFIGURED"],
});
export const historyRoute = historyContract.route;
