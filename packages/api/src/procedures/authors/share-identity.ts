import { shareIdentityContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { authorsOf } from "./authors.ts";

export const shareIdentityProcedure = userProcedure
  .meta(routeMeta(shareIdentityContract))
  .input(shareIdentityContract.input)
  .output(shareIdentityContract.output)
  .mutation(({ ctx, input }) => authorsOf(ctx.engine).shareIdentity(ctx.session, input));
