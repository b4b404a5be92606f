import { type AppRouter, appRouter } from "@spell/api";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import { describe, expect, it } from "vitest";
import { PROCEDURE_TYPES, type SpellProcedures } from "./client.ts";

// The SDK declares its procedures from the contracts so its published types need no server package.
// These checks hold that table to the router's own types: a renamed path, a new required input field
// or a changed output fails `pnpm typecheck` here.
type Inputs = inferRouterInputs<AppRouter>;
type Outputs = inferRouterOutputs<AppRouter>;
type At<T, P extends string> = P extends `${infer Head}.${infer Rest}`
  ? Head extends keyof T
    ? At<T[Head], Rest>
    : never
  : P extends keyof T
    ? T[P]
    : never;

type Agrees<P extends keyof SpellProcedures> = [SpellProcedures[P]["input"]] extends [
  NonNullable<At<Inputs, P>>,
]
  ? [Required<At<Outputs, P>>] extends [Required<SpellProcedures[P]["output"]>]
    ? true
    : { outputDiffers: P }
  : { inputDiffers: P };

type Check<T extends true> = T;
export type RouterAgreement = [
  Check<Agrees<"spell.execute">>,
  Check<Agrees<"spell.estimate">>,
  Check<Agrees<"spell.list">>,
  Check<Agrees<"me">>,
  Check<Agrees<"admin.ban">>,
  Check<Agrees<"admin.unban">>,
  Check<Agrees<"admin.publish">>,
  Check<Agrees<"admin.teamMembers">>,
  Check<Agrees<"billing.checkoutUrl">>,
  Check<Agrees<"billing.portalUrl">>,
  Check<Agrees<"billing.confirmIntent">>,
  Check<Agrees<"billing.balance">>,
  Check<Agrees<"billing.history">>,
  Check<Agrees<"billing.topUp">>,
  Check<Agrees<"billing.refundTopUp">>,
  Check<Agrees<"billing.spendLimits">>,
  Check<Agrees<"billing.autoReload">>,
  Check<Agrees<"admin.spendLimits">>,
  Check<Agrees<"authors.publish">>,
  Check<Agrees<"authors.update">>,
  Check<Agrees<"authors.versions">>,
  Check<Agrees<"authors.rollback">>,
  Check<Agrees<"authors.disable">>,
  Check<Agrees<"authors.runs">>,
  Check<Agrees<"authors.runLog">>,
  Check<Agrees<"authors.stats">>,
  Check<Agrees<"authors.shareIdentity">>,
  Check<Agrees<"executions.get">>,
  Check<Agrees<"executions.list">>,
  Check<Agrees<"executions.cancel">>,
];

describe("the SDK's procedure table", () => {
  it("calls each procedure by a path the router serves, as the router's query or mutation", () => {
    const served = appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>;
    for (const [path, { type }] of Object.entries(PROCEDURE_TYPES)) {
      expect(served[path]?._def.type, path).toBe(type);
    }
  });
});
