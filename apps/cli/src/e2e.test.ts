import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type E2E, startE2E } from "./testutil/e2e.ts";

/**
 * The whole path as a person meets it: the real server (`apps/server/src/main.ts`) in a child process,
 * and the real `bin/spell.js` in another. Uses DATABASE_URL when set, else the embedded Postgres.
 */

let e2e: E2E;
const spellCli = (args: string[], env?: Record<string, string>) => e2e.spell(args, env);

/** A width×height RGBA PNG with a gradient, encoded by hand so the test needs no image library. */
function png(width: number, height: number): Buffer {
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 4 + 1);
    for (let x = 0; x < width; x++) {
      raw.set([(x * 255) / width, (y * 255) / height, 128, 255], row + 1 + x * 4);
    }
  }
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

beforeAll(async () => {
  e2e = await startE2E("spell-e2e-");
}, 120_000);

afterAll(() => e2e?.close(), 30_000);

describe("spell CLI against a real server", () => {
  const user = `e2e-${randomBytes(4).toString("hex")}`;

  it("logs in with the dev issuer and runs echo@v1", async () => {
    const login = await spellCli(["login", "--dev", "--sub", user]);
    expect(login.stderr).toBe("");
    expect(login.stdout).toContain(`logged in as ${user}`);
    expect(login.code).toBe(0);

    const echo = await spellCli(["exec", "echo@v1", "--input", '{"hello":"world"}']);
    expect(echo).toMatchObject({ code: 0 });
    expect(JSON.parse(echo.stdout)).toEqual({ hello: "world" });
    expect(echo.stderr).toMatch(/^echo@v1 · builtin · \d+ ms · not charged · /);
  }, 60_000);

  it("resizes a PNG file with --file and writes the result with --out", async () => {
    const photo = png(200, 100);
    await writeFile(join(e2e.workDir, "photo.png"), photo);

    const res = await spellCli([
      "exec",
      "resize@v1",
      "--input",
      '{"width":50,"format":"png"}',
      "--file",
      "image=photo.png",
      "--out",
      "image=small.png",
    ]);
    expect(res.stderr).toContain("wrote output.image to");
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ format: "png", width: 50, height: 25 });

    const small = await readFile(join(e2e.workDir, "small.png"));
    expect(small.subarray(0, 8)).toEqual(photo.subarray(0, 8));
    expect(small.readUInt32BE(16)).toBe(50); // IHDR width
    expect(small.readUInt32BE(20)).toBe(25); // IHDR height
    expect(small.length).toBeLessThan(photo.length);
  }, 60_000);

  it("prints the error code and exits non-zero for an unknown spell and a bad token", async () => {
    const missing = await spellCli(["exec", "no-such-spell@v1"]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toMatch(/^error SPELL_NOT_FOUND: /);

    const forged = await spellCli(["me"], { SPELL_TOKEN: "not-a-jwt" });
    expect(forged.code).toBe(3);
    expect(forged.stderr).toMatch(/^error UNAUTHORIZED: .*\n {2}details: \{"reason":"/);
  }, 60_000);

  it("shows the caller in spell me and the demo spells in spell ls", async () => {
    const me = await spellCli(["me", "--json"]);
    expect(me).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(me.stdout)).toMatchObject({ ok: true, user: { id: user, status: "active" } });

    const ls = await spellCli(["ls"]);
    expect(ls).toMatchObject({ code: 0, stderr: "" });
    expect(ls.stdout).toMatch(/^echo@v1 +builtin +public +free/m);
    expect(ls.stdout).toMatch(/^resize@v1 +builtin/m);
  }, 60_000);

  it("saves a LOCAL TEST card and runs the priced demo echo-paid@v1, 3-D Secure included", async () => {
    // The start-up banner names the demo, so a person finds it.
    expect(e2e.serverLog()).toContain(
      `pnpm spell billing test-card pm_card_visa && pnpm spell exec echo-paid@v1 --input '{"hi":1}'`,
    );
    const card = await spellCli(["billing", "test-card", "pm_card_visa"]);
    expect(card).toMatchObject({ code: 0, stderr: "" });
    expect(card.stdout).toContain("LOCAL TEST payment provider");

    const paid = await spellCli(["exec", "echo-paid@v1", "--input", '{"hi":1}']);
    expect(paid.code).toBe(0);
    expect(JSON.parse(paid.stdout)).toEqual({ hi: 1 });
    expect(paid.stderr).toMatch(/^echo-paid@v1 · builtin · \d+ ms · charged \$0\.50 \(/);

    await spellCli(["billing", "test-card", "pm_card_authenticationRequired"]);
    const pending = await spellCli(["exec", "echo-paid@v1", "--input", '{"hi":2}']);
    expect(pending.code).toBe(4);
    const next = /spell billing authenticate (pi_local_\w+) && spell billing confirm \1/.exec(pending.stderr);
    expect(next, pending.stderr).not.toBeNull();
    const paymentIntentId = next?.[1] ?? "";
    expect((await spellCli(["billing", "authenticate", paymentIntentId])).code).toBe(0);
    const confirmed = await spellCli(["billing", "confirm", paymentIntentId]);
    expect(confirmed.code).toBe(0);
    expect(JSON.parse(confirmed.stdout)).toEqual({ hi: 2 });
    expect(confirmed.stderr).toContain("charged $0.50");
  }, 60_000);
});
