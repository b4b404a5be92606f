import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT } from "jose";
import { z } from "zod";
import type { TrustedIssuerConfig } from "./config.ts";
import { DEFAULT_AUDIENCE } from "./verifier.ts";

/**
 * A local ES256 issuer for the quick start and tests. It is trusted like any other issuer, so the
 * app must refuse it in production; nothing here knows about environments.
 */
export const DEV_ISSUER = "spell-dev";
export const DEV_ISSUER_FILE = "dev-issuer.json";

export interface DevIssuer {
  /** A `jwks` issuer holding the public key, admin-capable. */
  config: TrustedIssuerConfig;
  mintToken(options: {
    sub: string;
    scopes?: string[];
    expiresIn?: string;
    audience?: string;
  }): Promise<string>;
}

const ZEcJwk = z.looseObject({ kty: z.literal("EC"), crv: z.literal("P-256"), x: z.string(), y: z.string() });
const ZDevIssuerFile = z.object({
  kid: z.string().min(1),
  publicJwk: ZEcJwk,
  privateJwk: ZEcJwk.extend({ d: z.string() }),
});
type DevIssuerFile = z.infer<typeof ZDevIssuerFile>;

async function generate(): Promise<DevIssuerFile> {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return ZDevIssuerFile.parse({ kid, publicJwk, privateJwk: await exportJWK(privateKey) });
}

/**
 * Creates the file at most once even when several processes start together: the key is written to a
 * private temp file and hard-linked into place, which fails if another process got there first.
 */
async function createOnce(path: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(tmp, `${JSON.stringify(await generate(), null, 2)}\n`, { mode: 0o600, flag: "wx" });
  try {
    await link(tmp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await unlink(tmp);
  }
}

async function readKeyFile(path: string): Promise<DevIssuerFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const parsed = ZDevIssuerFile.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${path} is not a dev issuer key file; delete it to regenerate`);
  return parsed.data;
}

/** Loads the dev issuer's ES256 key pair from `<dir>/dev-issuer.json`, generating it (mode 0600) once. */
export async function loadOrCreateDevIssuer(dir: string): Promise<DevIssuer> {
  const path = join(dir, DEV_ISSUER_FILE);
  let file = await readKeyFile(path);
  if (file === undefined) {
    await mkdir(dir, { recursive: true });
    await createOnce(path);
    file = await readKeyFile(path);
    if (file === undefined) throw new Error(`${path} vanished right after it was created`);
  }
  const { kid, publicJwk, privateJwk } = file;
  const privateKey = await importJWK({ ...privateJwk, alg: "ES256" }, "ES256");

  return {
    config: {
      issuer: DEV_ISSUER,
      jwks: { keys: [{ ...publicJwk, kty: "EC", kid, alg: "ES256", use: "sig" }] },
      admin: true,
      // Local users are the bare `sub` (`alice`), as the CLI and the quick start show them; the dev
      // issuer is never trusted in production, where namespaces keep issuers apart.
      namespace: "",
    },
    async mintToken({ sub, scopes = [], expiresIn = "12h", audience = DEFAULT_AUDIENCE }) {
      const claims = scopes.length > 0 ? { scope: scopes.join(" ") } : {};
      return new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid, typ: "JWT" })
        .setIssuer(DEV_ISSUER)
        .setSubject(sub)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(expiresIn)
        .sign(privateKey);
    },
  };
}
