import { describe, expect, it } from "vitest";
import { DEFAULT_BODY_LIMIT, DEFAULT_PORT, EnvError, parseEnv } from "./env.ts";

const ISSUER = JSON.stringify([{ issuer: "https://issuer.example", secret: "s".repeat(32), admin: true }]);

describe("parseEnv", () => {
  it("defaults to a local development server with the dev issuer trusted", () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      production: false,
      port: DEFAULT_PORT,
      host: "127.0.0.1",
      databaseUrl: undefined,
      trustDevIssuer: true,
      jwtAudience: "spell",
      bodyLimit: DEFAULT_BODY_LIMIT,
    });
    expect(env.dataDir).toMatch(/\.spell$/);
  });

  it("lists everything production is missing in one error", () => {
    expect(() => parseEnv({ NODE_ENV: "production" })).toThrowError(EnvError);
    try {
      parseEnv({ NODE_ENV: "production" });
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain("SPELL_TRUSTED_ISSUERS");
      expect(message).toContain("DATABASE_URL");
      expect(message).toContain("SPELL_SIGNING_KEY");
    }
  });

  it("never trusts the dev issuer in production", () => {
    const env = parseEnv({
      NODE_ENV: "production",
      SPELL_TRUSTED_ISSUERS: ISSUER,
      DATABASE_URL: "postgresql://127.0.0.1/x",
      SPELL_SIGNING_KEY: "k".repeat(32),
    });
    expect(env.trustDevIssuer).toBe(false);
    expect(() =>
      parseEnv({
        NODE_ENV: "production",
        SPELL_TRUSTED_ISSUERS: JSON.stringify([{ issuer: "spell-dev", secret: "s".repeat(32) }]),
        DATABASE_URL: "postgresql://127.0.0.1/x",
        SPELL_SIGNING_KEY: "k".repeat(32),
      }),
    ).toThrowError(/development issuer/);
  });

  it("names a malformed variable without echoing its value", () => {
    expect(() => parseEnv({ SPELL_API_SECRETS: "{not json secret-value" })).toThrowError(
      /SPELL_API_SECRETS is not valid JSON/,
    );
    try {
      parseEnv({ SPELL_API_SECRETS: "{not json secret-value" });
    } catch (error) {
      expect((error as Error).message).not.toContain("secret-value");
    }
  });

  it("parses lists and limits", () => {
    const env = parseEnv({
      SPELL_API_ALLOWED_HOSTS: "127.0.0.1:9000, example.test",
      SPELL_BODY_LIMIT: "2048",
      SPELL_API_SECRETS: '{"token":"abc"}',
      SPELL_TRUSTED_ISSUERS: ISSUER,
    });
    expect(env.api.allowedHosts).toEqual(["127.0.0.1:9000", "example.test"]);
    expect(env.bodyLimit).toBe(2048);
    expect(env.api.secrets).toEqual({ token: "abc" });
    expect(env.trustedIssuers).toHaveLength(1);
  });
});
