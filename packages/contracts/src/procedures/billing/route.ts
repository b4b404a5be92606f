import type { RouteContract } from "../../common.ts";

export const billingRoute = (path: `/${string}`, summary: string): RouteContract => ({
  method: "POST",
  path,
  summary,
  tags: ["billing"],
  access: "user",
});
