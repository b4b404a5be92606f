import type { RouteContract } from "../../common.ts";

/** An author route: any verified, not banned caller reaches the engine, which decides ownership and scope. */
export const authorRoute = (method: "GET" | "POST", path: `/${string}`, summary: string): RouteContract => ({
  method,
  path,
  summary,
  tags: ["authors"],
  access: "user",
});
