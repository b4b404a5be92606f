# syntax=docker/dockerfile:1
# Spell API from built JavaScript. Written without being built (no images could be pulled where it
# was written): build it once in CI before relying on it. See docs/deploy.md.

FROM node:20-bookworm-slim AS build
ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0 TURBO_TELEMETRY_DISABLED=1
RUN corepack enable
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile
RUN pnpm build
# Keep only what runs: production dependencies of every workspace package.
RUN pnpm install --frozen-lockfile --prod --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8787
WORKDIR /app
COPY --from=build --chown=node:node /app /app
USER node
EXPOSE 8787 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8787)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# node itself is PID 1's child of nothing: it receives SIGTERM and drains (SPELL_SHUTDOWN_GRACE_MS).
CMD ["node", "apps/server/dist/main.js"]
