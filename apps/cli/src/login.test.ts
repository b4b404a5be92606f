import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createTokenVerifier } from "@spell/auth";
import { loadOrCreateDevIssuer } from "@spell/auth/dev";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fakeApi, ok, runCli, tempDir } from "./testing/harness.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

const configFile = () => join(dir, "xdg", "spell", "config.json");
// A syntactically valid JWT whose claims the CLI shows (it never verifies them).
const jwt = (claims: object) =>
  `eyJhbGciOiJub25lIn0.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
const spells = { ok: true, spells: [] };

describe("spell login --token", () => {
  it("saves the token (and --api-url) to $XDG_CONFIG_HOME/spell/config.json, mode 0600", async () => {
    const token = jwt({ sub: "alice", exp: 2_000_000_000 });
    const res = await runCli(["--api-url", "http://127.0.0.1:1234", "login", "--token", token], { cwd: dir });

    expect(res.code).toBe(0);
    expect(res.stdout).toContain("logged in as alice (expires 2033-05-18T03:33:20.000Z)");
    expect(JSON.parse(await readFile(configFile(), "utf8"))).toEqual({
      token,
      apiUrl: "http://127.0.0.1:1234",
    });
    expect((await stat(configFile())).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "xdg", "spell"))).mode & 0o777).toBe(0o700);
  });

  it("falls back to ~/.config/spell when XDG_CONFIG_HOME is unset or relative", async () => {
    const res = await runCli(["login", "--token", "t1"], { cwd: dir, env: { XDG_CONFIG_HOME: "relative" } });
    expect(res.code).toBe(0);
    expect(JSON.parse(await readFile(join(dir, ".config", "spell", "config.json"), "utf8"))).toEqual({
      token: "t1",
    });
  });

  it("keeps the saved API URL when logging in again without one, and tightens a loose file mode", async () => {
    await runCli(["--api-url", "http://127.0.0.1:1", "login", "--token", "t1"], { cwd: dir });
    await writeFile(configFile(), await readFile(configFile()), { mode: 0o644 });
    await runCli(["login", "--token", "t2"], { cwd: dir });
    expect(JSON.parse(await readFile(configFile(), "utf8"))).toEqual({
      token: "t2",
      apiUrl: "http://127.0.0.1:1",
    });
    expect((await stat(configFile())).mode & 0o777).toBe(0o600);
  });

  it("needs exactly one of --token and --dev", async () => {
    expect((await runCli(["login"], { cwd: dir })).code).toBe(2);
    const both = await runCli(["login", "--token", "t", "--dev"], { cwd: dir });
    expect(both.code).toBe(2);
    expect(both.stderr).toBe("error USAGE: give either --token <jwt> or --dev\n");
  });
});

describe("connection settings", () => {
  it("uses the saved token and API URL", async () => {
    await runCli(["--api-url", "http://saved.test", "login", "--token", "saved"], { cwd: dir });
    const api = fakeApi(() => ok(spells));
    await runCli(["ls"], { cwd: dir, fetch: api.fetch });
    expect(api.sent[0]?.headers.get("authorization")).toBe("Bearer saved");
  });

  it("lets SPELL_TOKEN and SPELL_API_URL override the saved ones, and --api-url override both", async () => {
    await runCli(["--api-url", "http://saved.test", "login", "--token", "saved"], { cwd: dir });
    const urls: string[] = [];
    const api = fakeApi(() => ok(spells));
    const fetch = (url: string, init?: RequestInit) => {
      urls.push(new URL(url).origin);
      return api.fetch(url, init);
    };
    const env = { SPELL_TOKEN: "from-env", SPELL_API_URL: "http://env.test" };
    await runCli(["ls"], { cwd: dir, env, fetch });
    await runCli(["--api-url", "http://flag.test", "ls"], { cwd: dir, env, fetch });
    expect(api.sent[0]?.headers.get("authorization")).toBe("Bearer from-env");
    expect(urls).toEqual(["http://env.test", "http://flag.test"]);
  });

  it("reports a corrupt config file instead of ignoring it", async () => {
    await mkdir(join(dir, "xdg", "spell"), { recursive: true });
    await writeFile(configFile(), "{not json");
    const res = await runCli(["ls"], { cwd: dir });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error CONFIG_INVALID: .*config\.json is not valid JSON/);
  });

  it("spell token prints the token in use and fails with exit 3 without one", async () => {
    expect((await runCli(["token"], { cwd: dir, env: { SPELL_TOKEN: "abc" } })).stdout).toBe("abc\n");
    const none = await runCli(["token"], { cwd: dir });
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/^error NO_TOKEN:/);
  });
});

describe("dev tokens", () => {
  it("login --dev mints a token with the server's dev issuer key in SPELL_DATA_DIR and saves it", async () => {
    const dataDir = join(dir, "data");
    const issuer = await loadOrCreateDevIssuer(dataDir);
    // The server is asked whether it trusts the token before it is saved.
    const api = fakeApi(() => ok({}));
    const res = await runCli(["login", "--dev", "--sub", "bob", "--admin"], {
      cwd: dir,
      env: { SPELL_DATA_DIR: dataDir },
      fetch: api.fetch,
    });
    expect(res.code).toBe(0);
    const { token } = JSON.parse(await readFile(configFile(), "utf8")) as { token: string };
    const caller = await createTokenVerifier({ issuers: [issuer.config] }).verify(`Bearer ${token}`);
    expect(caller).toMatchObject({ userId: "bob", issuer: issuer.config.issuer, isAdmin: true });
  });

  it("token --dev prints a user token (no admin scope) for curl, honouring SPELL_JWT_AUDIENCE", async () => {
    const issuer = await loadOrCreateDevIssuer(join(dir, "data"));
    const res = await runCli(["token", "--dev", "--data-dir", "data"], {
      cwd: dir,
      env: { SPELL_JWT_AUDIENCE: "custom" },
    });
    expect(res.code).toBe(0);
    const verifier = createTokenVerifier({ issuers: [issuer.config], audience: "custom" });
    const caller = await verifier.verify(`Bearer ${res.stdout.trim()}`);
    expect(caller).toMatchObject({ userId: "local-user", isAdmin: false });
  });

  it("refuses to mint without an existing key rather than creating one the server would not trust", async () => {
    const res = await runCli(["login", "--dev"], { cwd: dir, env: { SPELL_DATA_DIR: join(dir, "empty") } });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error DEV_ISSUER_NOT_FOUND: no dev issuer key at .*empty\/dev-issuer\.json/);
    await expect(stat(join(dir, "empty"))).rejects.toThrow();
  });
});
