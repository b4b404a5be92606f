import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./testutil/harness.ts";

const ARTIFACTS = fileURLToPath(new URL("../test-artifacts/", import.meta.url));

let h: Harness;
let browser: Browser;

beforeAll(async () => {
  h = await startHarness();
  // Debian's chromium (.ci/run installs it); no background networking: the page must work offline.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-background-networking", "--headless"],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe("GET /docs", () => {
  it("renders the OpenAPI reference in a real browser with no request leaving this server", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    const origin = new URL(h.url).origin;
    const foreign: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(origin) && !request.url().startsWith("data:"))
        foreign.push(request.url());
    });
    const response = await page.goto(`${h.url}/docs`, { waitUntil: "networkidle" });
    expect(response?.status()).toBe(200);

    // The execute operation is listed, and opening it shows its request body.
    const execute = page.locator(".opblock-post", { hasText: "/spell/execute" }).first();
    await execute.waitFor({ timeout: 20_000 });
    await execute.locator(".opblock-summary").click();
    await page.locator(".opblock-body").first().waitFor();
    expect(await execute.textContent()).toContain("/spell/execute");

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}docs-execute.png`, fullPage: false });
    expect(foreign).toEqual([]);
    await page.close();
  }, 60_000);

  it("serves its assets locally and nothing else from node_modules", async () => {
    expect((await fetch(`${h.url}/docs/assets/swagger-ui-bundle.js`)).status).toBe(200);
    expect((await fetch(`${h.url}/docs/assets/swagger-ui.css`)).headers.get("content-type")).toContain(
      "text/css",
    );
    const other = await fetch(`${h.url}/docs/assets/package.json`);
    expect(other.status).toBe(404);
    expect(other.headers.get("content-type")).toContain("application/json");
  });
});
