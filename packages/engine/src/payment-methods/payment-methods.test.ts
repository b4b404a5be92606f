import { describe, expect, it } from "vitest";
import { createEngine } from "../engine.ts";
import { createMemoryEngineDeps } from "../testing/index.ts";

describe("payment methods", () => {
  it("hands out the provider's checkout and portal URLs", async () => {
    const { deps } = createMemoryEngineDeps();
    const engine = createEngine(deps);
    const alice = await engine.authenticate("Bearer alice");
    const urls = { successUrl: "https://app.example/ok", cancelUrl: "https://app.example/no" };
    await expect(engine.checkoutUrl(alice, urls)).resolves.toEqual({
      ok: true,
      url: "https://checkout.example/session",
    });
    await expect(engine.portalUrl(alice, { returnUrl: "https://app.example" })).resolves.toEqual({
      ok: true,
      url: "https://portal.example/session",
    });
  });

  it("refuses a banned caller", async () => {
    const { deps, ports } = createMemoryEngineDeps();
    const engine = createEngine(deps);
    await ports.adminStore.banUser("mallory", "fraud", "admin");
    const mallory = await engine.authenticate("Bearer mallory");
    const urls = { successUrl: "https://app.example/ok", cancelUrl: "https://app.example/no" };
    await expect(engine.checkoutUrl(mallory, urls)).rejects.toMatchObject({ code: "USER_BANNED" });
    await expect(engine.portalUrl(mallory, { returnUrl: "https://app.example" })).rejects.toMatchObject({
      code: "USER_BANNED",
    });
  });
});
