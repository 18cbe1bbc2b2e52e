# syntax=docker/dockerfile:1
# hostop container image.
#
#   docker build -t hostop .
#   docker run -d --name hostop -p 127.0.0.1:9464:9464 \
#     -v "$PWD/desired-state:/desired-state:ro" \
#     -v /etc/hostop/ssh:/etc/hostop/ssh:ro \
#     -v hostop-state:/var/lib/hostop \
#     hostop
#
# The SSH identity files in /etc/hostop/ssh must be readable by uid 10001 (the image's hostop user);
# Host resources name them with spec.identityFile, e.g. /etc/hostop/ssh/id_ed25519.

# The image may run a newer Node than the machines (Node 20): the code targets both.
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: all dependencies, compile TypeScript, then drop the dev dependencies
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run tsc before the sources are copied (this layer is cached on the
# lock file alone); ssh2's optional native crypto binding is skipped, its pure-JS path is used.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY crds ./crds
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

# ---- runtime: production dependencies, compiled code and CRDs only; no compiler, no sources
FROM ${NODE_IMAGE} AS runtime
# git: hostop records the desired state's commit (git rev-parse) and can --git-pull it.
# tini: PID 1 that forwards SIGTERM/SIGHUP to node and reaps the git children.
# safe.directory: a mounted checkout belongs to another uid; without it git refuses the directory
# ("dubious ownership") and the revision would be lost.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hostop \
 && useradd --system --uid 10001 --gid hostop --home-dir /var/lib/hostop --no-create-home \
      --shell /usr/sbin/nologin hostop \
 && install -d -o hostop -g hostop -m 0700 /var/lib/hostop \
 && install -d -m 0755 /desired-state /etc/hostop/ssh \
 && git config --system --add safe.directory '*'
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/crds ./crds

# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
VOLUME ["/desired-state", "/etc/hostop/ssh", "/var/lib/hostop"]
EXPOSE 9464
# Slim images have no curl; node's own fetch does the probe (inside the container, so loopback works).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/hostop.js"]
# --listen 0.0.0.0: hostop's default 127.0.0.1 is the container's own loopback, unreachable through a
# published port or from Prometheus. Publish it as -p 127.0.0.1:9464:9464 unless Prometheus runs elsewhere.
CMD ["run", "/desired-state", "--state-dir", "/var/lib/hostop", "--listen", "0.0.0.0:9464"]
