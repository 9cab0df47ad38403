# syntax=docker/dockerfile:1
# The Token Orchestrator image: the build stage installs every dependency and
# compiles; the runtime stage holds production dependencies and the compiled
# service only, runs as the image's unprivileged `node` user, keeps the SQLite
# database in the /data volume and reports /ready to the HEALTHCHECK.
#
# No Docker engine runs where this project is built and tested:
# test/package/runtime-stage.test.ts reads this file and performs the runtime
# stage's steps in a clean folder (npm ci --omit=dev, the copies, then CMD),
# and refuses any instruction it does not know, so the two cannot drift.

FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/verifier/package.json packages/verifier/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production LOG_FORMAT=json HOST=0.0.0.0 PORT=4000 SQLITE_PATH=/data/token-orchestrator.sqlite
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/packages/verifier/package.json ./packages/verifier/
# better-sqlite3 fetches its prebuilt binary here (argon2 ships its own in the package).
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/packages/verifier/dist ./packages/verifier/dist
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/plugins ./dist/plugins
COPY --from=build /app/dist/routes ./dist/routes
RUN mkdir -p /data && chown node:node /data && chmod 700 /data && ln -s /app/dist/src/main/cli.js /usr/local/bin/token-orchestrator
USER node
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main/server.js"]
