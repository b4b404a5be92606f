import { authorPublishContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { authorsOf } from "./authors.ts";

export const authorPublishProcedure = userProcedure
  .meta(routeMeta(authorPublishContract))
  .input(authorPublishContract.input)
  .output(authorPublishContract.output)
  .mutation(({ ctx, input }) => authorsOf(ctx.engine).publish(ctx.session, input));
