import { createRequire } from "node:module";
import { dirname } from "node:path";
import type { Engine } from "@spell/engine";
import type { Express } from "express";
import { mountSpellOpenApi } from "./spell-openapi.ts";

/** Swagger UI's files, served from node_modules: the page works with no internet at all. */
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

const assetDir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Spell API reference</title>
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="docs"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

// No validator badge (it would call validator.swagger.io) and nothing else fetched from outside.
const INIT = `window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#docs",
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: true,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
`;

/**
 * `GET /docs`: an interactive reference of `/api/openapi.json` (Swagger UI), every asset served
 * by this server. "Authorize" takes a bearer token; "Try it out" calls this server's `/api`.
 * Also `GET /api/spells/:slug/openapi.json`, one spell's call typed by its schemas.
 */
export function mountDocs(app: Express, options: { engine: Engine; publicUrl?: string }): void {
  mountSpellOpenApi(app, options);
  app.get("/docs", (_req, res) => {
    res.type("text/html; charset=utf-8").set("cache-control", "no-cache").send(PAGE);
  });
  app.get("/docs/init.js", (_req, res) => {
    res.type("text/javascript; charset=utf-8").send(INIT);
  });
  app.get("/docs/assets/:file", (req, res, next) => {
    const type = ASSETS[req.params.file];
    if (type === undefined) return next();
    // `root`: pnpm's store path contains `.pnpm`, a dot segment `send` would refuse outside the root.
    res
      .type(type)
      .set("cache-control", "public, max-age=86400")
      .sendFile(req.params.file, { root: assetDir });
  });
}
