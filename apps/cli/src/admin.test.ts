import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fakeApi, ok, runCli, tempDir } from "./testing/harness.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

const published = {
  ok: true,
  spell: {
    id: "spl_1",
    slug: "thumb@v1",
    runtime: "wasm",
    visibility: "team",
    teamId: "design",
    ownerId: "admin",
    price: { amount: 50, currency: "usd" },
    artifactId: "art_1",
    wasmSha256: "ab",
  },
  signingSecret: null,
};

describe("spell admin publish", () => {
  it("maps the flags to the publish input, reading --wasm as base64", async () => {
    const wasm = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    await writeFile(join(dir, "thumb.wasm"), wasm);
    const api = fakeApi(() => ok(published));
    const res = await runCli(
      [
        "admin",
        "publish",
        "--slug",
        "thumb@v1",
        "--runtime",
        "wasm",
        "--wasm",
        "thumb.wasm",
        "--price",
        "50",
        "--visibility",
        "team",
        "--team",
        "design",
        "--config",
        '{"timeoutMs":1000}',
        "--metadata",
        '{"description":"thumbnails"}',
      ],
      { cwd: dir, fetch: api.fetch },
    );
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(api.sent[0]?.path).toBe("admin.publish");
    expect(api.sent[0]?.body).toEqual({
      slug: "thumb@v1",
      runtime: "wasm",
      artifact: { wasmBase64: wasm.toString("base64") },
      priceAmount: 50,
      visibility: "team",
      teamId: "design",
      config: { timeoutMs: 1000 },
      metadata: { description: "thumbnails" },
    });
    expect(res.stdout).toBe("published thumb@v1 (wasm, team design, $0.50) artifact art_1\n");
  });

  it("shows an api spell's signing secret", async () => {
    const api = fakeApi(() =>
      ok({ ...published, spell: { ...published.spell, runtime: "api" }, signingSecret: "whsec_1" }),
    );
    const res = await runCli(
      ["admin", "publish", "--slug", "up@v1", "--runtime", "api", "--api-endpoint", "https://up.test/run"],
      { cwd: dir, fetch: api.fetch },
    );
    expect(res.code).toBe(0);
    expect(api.sent[0]?.body).toMatchObject({ artifact: { apiEndpoint: "https://up.test/run" } });
    // Flags left out are not sent: a republish never resets what it was not told to change.
    expect(api.sent[0]?.body).not.toHaveProperty("visibility");
    expect(api.sent[0]?.body).not.toHaveProperty("priceAmount");
    expect(api.sent[0]?.body).not.toHaveProperty("currency");
    expect(res.stdout).toContain("signing secret (shown once, give it to the upstream): whsec_1");
  });

  it.each([
    [["--runtime", "builtin"], "--runtime builtin takes exactly one artifact flag: --builtin <name>"],
    [["--runtime", "builtin", "--api-endpoint", "https://x.test"], "--runtime builtin takes exactly one"],
    [
      ["--runtime", "api", "--builtin", "echo"],
      "--runtime api takes exactly one artifact flag: --api-endpoint",
    ],
    [["--runtime", "builtin", "--builtin", "echo", "--price", "1.5"], "--price is an integer in minor units"],
    [["--runtime", "builtin", "--builtin", "echo", "--config", "[]"], "--config must be a JSON object"],
  ])("refuses %j before calling the API", async (flags, message) => {
    const api = fakeApi(() => ok(published));
    const res = await runCli(["admin", "publish", "--slug", "x@v1", ...flags], {
      cwd: dir,
      fetch: api.fetch,
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
    expect(api.sent).toHaveLength(0);
  });

  it("rejects an unknown runtime through commander's choices", async () => {
    const res = await runCli(["admin", "publish", "--slug", "x@v1", "--runtime", "lua"], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("Allowed choices are builtin, api, wasm");
  });
});

describe("spell admin ban, unban and team", () => {
  it("sends ban with its reason, unban, and team membership changes", async () => {
    const api = fakeApi((path, body) => {
      const input = body as Record<string, string>;
      if (path === "admin.teamMembers") {
        return ok({ ok: true, teamId: input.teamId, userId: input.userId, member: input.action === "add" });
      }
      return ok({ ok: true, userId: input.userId, status: path === "admin.ban" ? "banned" : "active" });
    });
    const ban = await runCli(["admin", "ban", "mallory", "--reason", "abuse"], {
      cwd: dir,
      fetch: api.fetch,
    });
    const unban = await runCli(["admin", "unban", "mallory"], { cwd: dir, fetch: api.fetch });
    const add = await runCli(["admin", "team", "add", "design", "bob"], { cwd: dir, fetch: api.fetch });
    const remove = await runCli(["admin", "team", "remove", "design", "bob"], { cwd: dir, fetch: api.fetch });

    expect([ban.stdout, unban.stdout, add.stdout, remove.stdout]).toEqual([
      "mallory is banned\n",
      "mallory is active\n",
      "bob is a member of team design\n",
      "bob is not a member of team design\n",
    ]);
    expect(api.sent.map((s) => [s.path, s.body])).toEqual([
      ["admin.ban", { userId: "mallory", reason: "abuse" }],
      ["admin.unban", { userId: "mallory" }],
      ["admin.teamMembers", { teamId: "design", userId: "bob", action: "add" }],
      ["admin.teamMembers", { teamId: "design", userId: "bob", action: "remove" }],
    ]);
  });

  it("ban requires --reason", async () => {
    const res = await runCli(["admin", "ban", "mallory"], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("required option '-r, --reason <reason>' not specified");
  });
});

describe("readable listings", () => {
  it("ls prints a table with prices people can read", async () => {
    const api = fakeApi(() =>
      ok({
        ok: true,
        spells: [
          {
            slug: "echo@v1",
            runtime: "builtin",
            price: { amount: 0, currency: "usd" },
            visibility: "public",
            description: "Returns its input",
            inputSchema: null,
          },
          {
            slug: "thumb@v1",
            runtime: "wasm",
            price: { amount: 150, currency: "jpy" },
            visibility: "team",
            description: null,
            inputSchema: null,
          },
        ],
      }),
    );
    const res = await runCli(["ls"], { cwd: dir, fetch: api.fetch });
    expect(res.stdout).toBe(
      [
        "SLUG      RUNTIME  VISIBILITY  PRICE  DESCRIPTION",
        "echo@v1   builtin  public      free   Returns its input",
        "thumb@v1  wasm     team        ¥150",
        "",
      ].join("\n"),
    );
  });

  it("estimate says whether a payment method is needed", async () => {
    const api = fakeApi(() =>
      ok({
        ok: true,
        spell: { slug: "thumb@v1", runtime: "wasm", visibility: "public" },
        price: { amount: 50, currency: "usd" },
        paymentMethodRequired: true,
        paymentMethodOnFile: false,
      }),
    );
    const res = await runCli(["estimate", "thumb@v1"], { cwd: dir, fetch: api.fetch });
    expect(api.sent[0]?.body).toEqual({ spell: "thumb@v1" });
    expect(res.stdout).toContain("price           $0.50");
    expect(res.stdout).toContain("payment method  required, none on file");
  });
});
