import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./testutil/harness.ts";

// The pipeline verifies the token and refuses a banned caller before anything else, a webhook
// included: a stranger learns nothing about the URL policy or the server's setup.

const forbiddenUrl = "https://169.254.169.254/latest/meta-data";

const executeWithWebhook = (h: Harness, token: string | undefined) =>
  h.call("POST", "/api/spell/execute", {
    ...(token !== undefined ? { token } : {}),
    body: { spell: "echo@v1", input: { x: 1 }, webhook: { url: forbiddenUrl } },
  });

async function bannedUser(h: Harness, name: string) {
  const admin = await h.admin();
  const user = await h.user(name);
  const ban = await h.call("POST", "/api/admin/ban", {
    token: admin.token,
    body: { userId: user.id, reason: "abuse" },
  });
  expect(ban.status).toBe(200);
  return user;
}

function refusesBeforeTheWebhook(harness: () => Harness) {
  it("answers 401 to a call without a token, whatever its webhook URL", async () => {
    const response = await executeWithWebhook(harness(), undefined);
    expect(response.status).toBe(401);
    expect(response.body.error).toMatchObject({ code: "UNAUTHORIZED", details: { reason: "missing_token" } });
  });

  it("answers 403 USER_BANNED to a banned caller, whatever its webhook URL", async () => {
    const h = harness();
    const mallory = await bannedUser(h, "mallory");
    const response = await executeWithWebhook(h, mallory.token);
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe("USER_BANNED");
    const trpcError = await h
      .trpc(mallory.token)
      .spell.execute.mutate({ spell: "echo@v1", webhook: { url: forbiddenUrl } })
      .catch((e: { data?: unknown }) => e);
    expect((trpcError as { data?: unknown }).data).toMatchObject({ code: "USER_BANNED", httpStatus: 403 });
    expect(await h.executionCount(mallory.id)).toBe(0);
  });
}

// On DATABASE_URL's server the harness runs asynchronous executions (pg-boss) and so webhooks;
// embedded it has none, and a verified caller gets 503 instead of the URL check's 400.
describe("a webhook with the execute", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h?.close());

  refusesBeforeTheWebhook(() => h);

  it("is judged only once the caller is verified and admitted", async () => {
    const alice = await h.user("alice");
    const response = await executeWithWebhook(h, alice.token);
    if (h.engine.webhooks) {
      expect(response.status).toBe(400);
      expect(response.body.error.details).toMatchObject({ reason: "webhook_forbidden_address" });
    } else {
      expect(response.status).toBe(503);
      expect(response.body.error.details).toMatchObject({ reason: "async_unavailable" });
    }
  });
});
