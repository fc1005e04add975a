# syntax=docker/dockerfile:1
# Licentric in a container (README.md, "Running it as a service"):
#   docker build -t licentric .
#   docker run -d --name licentric -p 3000:3000 --env-file licentric.env licentric
# The runtime image holds what `npm pack` puts in the package, and the production dependencies
# exactly as package-lock.json pins them.

# The Node.js the project pins (package.json, devDependencies.node).
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json README.md ./
COPY src ./src
COPY generated ./generated
COPY deploy ./deploy
# npm pack builds dist/ first (prepack) and keeps what package.json's "files" lists.
RUN npm pack --silent && mkdir /package && tar -xzf licentric-*.tgz -C /package --strip-components=1

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# tini as PID 1: it forwards the stop signal to the server and reaps what exits under it.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  PORT=3000 \
  LICENTRIC_DATA_DIR=/var/lib/licentric
WORKDIR /app
COPY --from=build /package/ ./
COPY package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force \
  && chmod 0755 dist/cli.js \
  && ln -s /app/dist/cli.js /usr/local/bin/licentric \
  && install -d -o node -g node -m 0700 /var/lib/licentric
# The embedded PostgreSQL refuses to run as root; the image's own unprivileged user runs both.
# In production set DATABASE_URL (and LICENTRIC_SECRET) to an external PostgreSQL; without it
# the embedded database lives in the volume below.
USER node
VOLUME ["/var/lib/licentric"]
EXPOSE 3000
# The server drains on SIGTERM; give it more than LICENTRIC_SHUTDOWN_DELAY + LICENTRIC_SHUTDOWN_GRACE
# (docker stop --time 45, or stop_grace_period: 45s in compose).
STOPSIGNAL SIGTERM
# /readyz also checks the database, and says 503 while the server is stopping.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["licentric", "serve"]
