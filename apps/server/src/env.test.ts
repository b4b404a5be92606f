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

describe("parseEnv: billing", () => {
  const PROD = {
    NODE_ENV: "production",
    SPELL_TRUSTED_ISSUERS: ISSUER,
    DATABASE_URL: "postgresql://127.0.0.1/x",
    SPELL_SIGNING_KEY: "k".repeat(32),
  };
  const STRIPE = { STRIPE_SECRET_KEY: "sk_test_1", STRIPE_WEBHOOK_SECRET: "whsec_1" };

  it.each([
    ["development without Stripe keys", {}, "local"],
    ["development with both Stripe keys", STRIPE, "stripe"],
    ["development, SPELL_BILLING=none", { SPELL_BILLING: "none" }, "none"],
    ["production without Stripe keys", PROD, "none"],
    [
      "production with Stripe",
      { ...PROD, ...STRIPE, SPELL_BILLING_RETURN_ORIGINS: "https://app.example" },
      "stripe",
    ],
  ] as const)("%s → %s", (_name, source, mode) => {
    expect(parseEnv(source).billingMode).toBe(mode);
  });

  it.each([
    [
      "the local test provider in production",
      { ...PROD, SPELL_BILLING: "local" },
      /never runs in production/,
    ],
    ["one Stripe key without the other", { STRIPE_SECRET_KEY: "sk_test_1" }, /must be set together/],
    ["SPELL_BILLING=stripe without keys", { SPELL_BILLING: "stripe" }, /needs STRIPE_SECRET_KEY/],
    ["an unknown SPELL_BILLING", { SPELL_BILLING: "paypal" }, /SPELL_BILLING/],
    ["a non-http STRIPE_API_BASE", { ...STRIPE, STRIPE_API_BASE: "ftp://x" }, /STRIPE_API_BASE/],
    ["a bad return origin", { SPELL_BILLING_RETURN_ORIGINS: "not a url" }, /SPELL_BILLING_RETURN_ORIGINS/],
    ["Stripe in production without return origins", { ...PROD, ...STRIPE }, /SPELL_BILLING_RETURN_ORIGINS/],
  ] as const)("refuses %s at start-up", (_name, source, message) => {
    expect(() => parseEnv(source)).toThrowError(message);
    expect(() => parseEnv(source)).toThrowError(EnvError);
  });

  it("parses STRIPE_API_BASE and normalises return origins", () => {
    const env = parseEnv({
      ...STRIPE,
      STRIPE_API_BASE: "http://127.0.0.1:12111",
      SPELL_BILLING_RETURN_ORIGINS: "https://app.example/path, http://localhost:3000",
    });
    expect(env.stripe.apiBase).toEqual({ host: "127.0.0.1", port: 12111, protocol: "http" });
    expect(env.billingReturnOrigins).toEqual(["https://app.example", "http://localhost:3000"]);
  });
});

describe("parseEnv: production operations", () => {
  const PRODUCTION = {
    NODE_ENV: "production",
    DATABASE_URL: "postgresql://127.0.0.1/x",
    SPELL_SIGNING_KEY: "k".repeat(32),
  };
  const files = (contents: Record<string, string>) => (path: string) => {
    const text = contents[path];
    if (text === undefined) throw Object.assign(new Error("missing"), { code: "ENOENT" });
    return text;
  };

  it("reads JSON settings and secrets from <NAME>_FILE, dropping one trailing newline", () => {
    const env = parseEnv(
      {
        ...PRODUCTION,
        SPELL_SIGNING_KEY: undefined,
        SPELL_TRUSTED_ISSUERS_FILE: "/run/secrets/issuers.json",
        SPELL_API_SECRETS_FILE: "/run/secrets/api.json",
        SPELL_SIGNING_KEY_FILE: "/run/secrets/signing",
      },
      {
        readFile: files({
          "/run/secrets/issuers.json": `${ISSUER}\n`,
          "/run/secrets/api.json": '{"upstream":"tok"}',
          "/run/secrets/signing": `${"f".repeat(40)}\n`,
        }),
      },
    );
    expect(env.trustedIssuers.map((issuer) => issuer.issuer)).toEqual(["https://issuer.example"]);
    expect(env.api.secrets).toEqual({ upstream: "tok" });
    expect(env.api.signingKey).toBe("f".repeat(40));
  });

  it("refuses a variable set both directly and as a file, and an unreadable file", () => {
    expect(() =>
      parseEnv(
        { SPELL_API_SECRETS: "{}", SPELL_API_SECRETS_FILE: "/x" },
        { readFile: files({ "/x": "{}" }) },
      ),
    ).toThrowError(/SPELL_API_SECRETS and SPELL_API_SECRETS_FILE are both set/);
    expect(() => parseEnv({ SPELL_TRUSTED_ISSUERS_FILE: "/nope" }, { readFile: files({}) })).toThrowError(
      /SPELL_TRUSTED_ISSUERS_FILE: cannot read \/nope \(ENOENT\)/,
    );
  });

  it("seeds demo spells outside production only, unless SPELL_SEED_DEMOS says otherwise", () => {
    expect(parseEnv({}).seedDemos).toBe(true);
    expect(parseEnv({ SPELL_SEED_DEMOS: "0" }).seedDemos).toBe(false);
    expect(parseEnv({ ...PRODUCTION, SPELL_TRUSTED_ISSUERS: ISSUER }).seedDemos).toBe(false);
    expect(parseEnv({ ...PRODUCTION, SPELL_TRUSTED_ISSUERS: ISSUER, SPELL_SEED_DEMOS: "1" }).seedDemos).toBe(
      true,
    );
    expect(() => parseEnv({ SPELL_SEED_DEMOS: "maybe" })).toThrowError(/SPELL_SEED_DEMOS/);
  });

  it.each([
    [undefined, false],
    ["false", false],
    ["true", true],
    ["2", 2],
    ["loopback, 10.0.0.0/8", "loopback, 10.0.0.0/8"],
  ] as const)("SPELL_TRUST_PROXY=%s is trust proxy %s", (value, expected) => {
    expect(parseEnv(value === undefined ? {} : { SPELL_TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it("never serves /metrics on the API port in production without a token", () => {
    const production = { ...PRODUCTION, SPELL_TRUSTED_ISSUERS: ISSUER };
    expect(parseEnv({}).metrics.onApiPort).toBe(true);
    expect(parseEnv(production).metrics.onApiPort).toBe(false);
    expect(parseEnv({ ...production, SPELL_METRICS_TOKEN: "t".repeat(24) }).metrics).toMatchObject({
      onApiPort: true,
      token: "t".repeat(24),
    });
    expect(parseEnv({ ...production, SPELL_METRICS_PORT: "9464" }).metrics).toMatchObject({
      onApiPort: false,
      port: 9464,
      host: "127.0.0.1",
    });
  });

  it("logs JSON unless a person is watching in development", () => {
    expect(parseEnv({}, { stdoutIsTTY: true }).log).toEqual({ level: "info", format: "pretty" });
    expect(parseEnv({}, { stdoutIsTTY: false }).log.format).toBe("json");
    expect(parseEnv({ NODE_ENV: "test" }, { stdoutIsTTY: true }).log.format).toBe("json");
    expect(
      parseEnv({ SPELL_LOG_LEVEL: "debug", SPELL_LOG_FORMAT: "json" }, { stdoutIsTTY: true }).log,
    ).toEqual({
      level: "debug",
      format: "json",
    });
    expect(() => parseEnv({ SPELL_LOG_LEVEL: "loud" })).toThrowError(/SPELL_LOG_LEVEL/);
  });

  it("retries the database at start 10 times by default", () => {
    expect(parseEnv({}).databaseStartRetries).toBe(10);
    expect(parseEnv({ SPELL_DB_START_RETRIES: "0" }).databaseStartRetries).toBe(0);
  });
});

describe("parseEnv: run webhooks", () => {
  const PRODUCTION = {
    NODE_ENV: "production",
    DATABASE_URL: "postgresql://127.0.0.1/x",
    SPELL_SIGNING_KEY: "k".repeat(32),
    SPELL_TRUSTED_ISSUERS: ISSUER,
  };
  const SECRET = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;

  it("takes a Standard Webhooks secret and refuses anything else, without echoing it", () => {
    expect(parseEnv({ SPELL_WEBHOOK_SECRET: SECRET }).webhooks.secret).toBe(SECRET);
    expect(parseEnv({}).webhooks.secret).toBeUndefined();
    for (const bad of ["plain-text-secret", "whsec_!!", `whsec_${Buffer.alloc(8, 1).toString("base64")}`]) {
      expect(() => parseEnv({ SPELL_WEBHOOK_SECRET: bad })).toThrowError(
        /SPELL_WEBHOOK_SECRET must be whsec_/,
      );
      try {
        parseEnv({ SPELL_WEBHOOK_SECRET: bad });
      } catch (error) {
        expect((error as Error).message).not.toContain(bad);
      }
    }
  });

  it("requires https receivers in production only", () => {
    expect(parseEnv({}).webhooks.requireHttps).toBe(false);
    expect(parseEnv(PRODUCTION).webhooks.requireHttps).toBe(true);
  });

  it("admits internal receivers only outside production (tests' loopback receivers)", () => {
    expect(parseEnv({ SPELL_WEBHOOK_ALLOWED_HOSTS: "127.0.0.1, [::1]:9000" }).webhooks.allowedHosts).toEqual([
      "127.0.0.1",
      "[::1]:9000",
    ]);
    expect(() => parseEnv({ ...PRODUCTION, SPELL_WEBHOOK_ALLOWED_HOSTS: "127.0.0.1" })).toThrowError(
      /SPELL_WEBHOOK_ALLOWED_HOSTS/,
    );
  });
});

describe("parseEnv: asynchronous runs' recovery", () => {
  it("leaves the recovery settings to their defaults unless set", () => {
    expect(parseEnv({}).runs).toEqual({
      jobExpirySeconds: undefined,
      staleRunningMs: undefined,
      maintenanceIntervalSeconds: undefined,
    });
    expect(
      parseEnv({ SPELL_RUN_JOB_EXPIRY_S: "4", SPELL_RUN_STALE_MS: "1500", SPELL_RUN_MAINTENANCE_S: "1" })
        .runs,
    ).toEqual({ jobExpirySeconds: 4, staleRunningMs: 1500, maintenanceIntervalSeconds: 1 });
    expect(() => parseEnv({ SPELL_RUN_MAINTENANCE_S: "0" })).toThrowError(/SPELL_RUN_MAINTENANCE_S/);
  });

  it("refuses a stale window not below the job expiry, the defaults' included", () => {
    // A retried job must find the dead worker's row stale, or nothing would ever end that run.
    expect(() => parseEnv({ SPELL_RUN_JOB_EXPIRY_S: "4", SPELL_RUN_STALE_MS: "4000" })).toThrowError(
      /SPELL_RUN_STALE_MS \(4000\) must be below SPELL_RUN_JOB_EXPIRY_S \(4 s\)/,
    );
    expect(() => parseEnv({ SPELL_RUN_JOB_EXPIRY_S: "60" })).toThrowError(/SPELL_RUN_STALE_MS \(600000\)/);
    expect(() => parseEnv({ SPELL_RUN_STALE_MS: "900000" })).toThrowError(EnvError);
    expect(parseEnv({ SPELL_RUN_STALE_MS: "899999" }).runs.staleRunningMs).toBe(899_999);
  });
});
