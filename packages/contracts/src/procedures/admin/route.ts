import type { RouteContract } from "../../common.ts";

export const adminRoute = (path: `/${string}`, summary: string): RouteContract => ({
  method: "POST",
  path,
  summary,
  tags: ["admin"],
  access: "admin",
});
