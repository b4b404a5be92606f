import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type E2E, startE2E } from "./testutil/e2e.ts";

/**
 * The wasm quick start as a person meets it: the real server (`apps/server/src/main.ts`, wasm demos
 * seeded) in a child process and the real `bin/spell.js`. Uses DATABASE_URL when set, else the
 * embedded Postgres.
 */

/** The committed C echo example (`packages/runtime-wasm/wasm/examples/echo.c`). */
const ECHO_WASM = fileURLToPath(
  new URL("../../../packages/runtime-wasm/wasm/bin/echo-c.wasm", import.meta.url),
);
let e2e: E2E;
const spellCli = (args: string[], env?: Record<string, string>) => e2e.spell(args, env);

beforeAll(async () => {
  e2e = await startE2E("spell-e2e-wasm-");
}, 120_000);

afterAll(() => e2e?.close(), 30_000);

describe("spell CLI runs wasm spells on a real server", () => {
  const user = `e2e-wasm-${randomBytes(4).toString("hex")}`;

  it("logs in with the dev issuer and runs the wordcount@v1 demo", async () => {
    const login = await spellCli(["login", "--dev", "--sub", user]);
    expect(login).toMatchObject({ code: 0, stderr: "" });

    const counted = await spellCli(["exec", "wordcount@v1", "--input", '{"text":"the cat the hat"}']);
    expect(counted.code).toBe(0);
    expect(JSON.parse(counted.stdout)).toEqual({
      words: 4,
      lines: 1,
      chars: 15,
      top: [
        { word: "the", count: 2 },
        { word: "cat", count: 1 },
        { word: "hat", count: 1 },
      ],
    });
    expect(counted.stderr).toMatch(/^wordcount@v1 · wasm · \d+ ms · not charged · /);
  }, 60_000);

  it("lists the wasm demos in spell ls", async () => {
    const ls = await spellCli(["ls"]);
    expect(ls).toMatchObject({ code: 0, stderr: "" });
    for (const slug of ["wordcount@v1", "echo-c@v1", "echo-rust@v1", "echo-as@v1"]) {
      expect(ls.stdout).toMatch(new RegExp(`^${slug} +wasm +public +free`, "m"));
    }
  }, 60_000);

  it("publishes the committed echo binary as an admin and runs it", async () => {
    const slug = `mine-${randomBytes(3).toString("hex")}@v1`;
    const minted = await spellCli(["token", "--dev", "--admin", "--sub", `${user}-admin`]);
    expect(minted.code).toBe(0);
    const admin = { SPELL_TOKEN: minted.stdout.trim() };

    const published = await spellCli(
      ["admin", "publish", "--slug", slug, "--runtime", "wasm", "--wasm", ECHO_WASM],
      admin,
    );
    expect(published).toMatchObject({ code: 0, stderr: "" });
    expect(published.stdout).toMatch(new RegExp(`^published ${slug} \\(wasm, public, free\\) artifact `));

    const echoed = await spellCli(["exec", slug, "--input", '{"mine":[1,"two"]}']);
    expect(echoed.code).toBe(0);
    expect(JSON.parse(echoed.stdout)).toEqual({ echo: { mine: [1, "two"] } });
    expect(echoed.stderr).toMatch(new RegExp(`^${slug} · wasm · `));
  }, 60_000);
});
