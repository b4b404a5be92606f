import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "@spell/contracts";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEV_ISSUER, DEV_ISSUER_FILE, loadOrCreateDevIssuer } from "./dev.ts";
import { createTokenVerifier } from "./verifier.ts";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "spell-auth-dev-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("loadOrCreateDevIssuer", () => {
  it("creates the key file once, private to its owner", async () => {
    const keyDir = join(dir, "nested", ".spell");
    const issuer = await loadOrCreateDevIssuer(keyDir);
    const info = await stat(join(keyDir, DEV_ISSUER_FILE));
    expect(info.mode & 0o777).toBe(0o600);
    expect(issuer.config).toMatchObject({ issuer: DEV_ISSUER, admin: true });
    const stored = JSON.parse(await readFile(join(keyDir, DEV_ISSUER_FILE), "utf8"));
    expect(stored.privateJwk.d).toEqual(expect.any(String));
    expect(JSON.stringify(issuer.config)).not.toContain(stored.privateJwk.d);
  });

  it("reuses the key on the second load", async () => {
    const first = await loadOrCreateDevIssuer(dir);
    const before = await readFile(join(dir, DEV_ISSUER_FILE), "utf8");
    const second = await loadOrCreateDevIssuer(dir);
    expect(await readFile(join(dir, DEV_ISSUER_FILE), "utf8")).toBe(before);
    expect(second.config).toEqual(first.config);

    const token = await first.mintToken({ sub: "u1" });
    const verifier = createTokenVerifier({ issuers: [second.config], audience: "spell" });
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toMatchObject({ userId: "u1" });
  });

  it("creates a single key when loads race", async () => {
    const loaded = await Promise.all([loadOrCreateDevIssuer(dir), loadOrCreateDevIssuer(dir)]);
    expect(loaded[1]?.config).toEqual(loaded[0]?.config);
  });

  it("mints tokens its config verifies, admin only with spell:admin", async () => {
    const dev = await loadOrCreateDevIssuer(dir);
    const verifier = createTokenVerifier({ issuers: [dev.config], audience: "spell" });
    const admin = await dev.mintToken({ sub: "root", scopes: ["spell:admin"] });
    await expect(verifier.verify(`Bearer ${admin}`)).resolves.toEqual({
      userId: "root",
      subject: "root",
      issuer: DEV_ISSUER,
      isAdmin: true,
      scopes: ["spell:admin"],
    });
    const user = await dev.mintToken({ sub: "alice" });
    await expect(verifier.verify(`Bearer ${user}`)).resolves.toMatchObject({ isAdmin: false, scopes: [] });
  });

  it("honours expiresIn and audience", async () => {
    const dev = await loadOrCreateDevIssuer(dir);
    const verifier = createTokenVerifier({ issuers: [dev.config], audience: "spell" });
    const otherAudience = await dev.mintToken({ sub: "alice", audience: "elsewhere" });
    const expired = await dev.mintToken({ sub: "alice", expiresIn: "-2 minutes" });
    for (const [token, reason] of [
      [otherAudience, "wrong_audience"],
      [expired, "expired"],
    ] as const) {
      const error = await verifier.verify(`Bearer ${token}`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).details).toEqual({ reason });
    }
  });

  it("refuses a corrupt key file instead of overwriting it", async () => {
    await writeFile(join(dir, DEV_ISSUER_FILE), '{"nope":true}');
    await expect(loadOrCreateDevIssuer(dir)).rejects.toThrow(/not a dev issuer key file/);
  });
});
