# syntax=docker/dockerfile:1
# nest-oci-registry. Build: docker build -t nest-oci-registry .
# Run:   docker run -d --name registry -p 3002:3002 -v registry-data:/data --stop-timeout 45 nest-oci-registry
# Admin: docker exec -it registry registry --help          (the CLI, with the container's configuration)
#
# Three stages: `build` compiles TypeScript with every dependency; `prod-deps` installs only the
# production ones (better-sqlite3 builds or fetches its native addon there, for the same Debian
# and Node as the runtime); the runtime stage copies dist/ and that node_modules/, nothing else.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# Compilers for better-sqlite3's addon when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && chmod 0755 dist/cli.js

FROM ${NODE_IMAGE} AS prod-deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3002 \
    REGISTRY_DATA_DIR=/data
WORKDIR /app
RUN groupadd --system --gid 10001 registry \
 && useradd --system --uid 10001 --gid registry --home-dir /data --shell /usr/sbin/nologin registry \
 && install -d -m 0750 -o registry -g registry /data
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config/policies.json ./config/policies.json
RUN ln -s /app/dist/cli.js /usr/local/bin/registry
USER registry
# Blobs, registry.db, the token signing key and the initial admin password: keep this volume.
VOLUME /data
EXPOSE 3002
# SIGTERM: stop accepting, let in-flight requests and uploads finish (REGISTRY_SHUTDOWN_TIMEOUT,
# 30 s by default), close the database. Docker's default stop timeout is 10 s: pass
# --stop-timeout 45 (docker run) or stop_grace_period: 45s (compose).
STOPSIGNAL SIGTERM
# No curl in slim images: node asks /healthz (over HTTPS, certificate unchecked, when REGISTRY_TLS_CERT is set).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "const s=process.env.REGISTRY_TLS_CERT?require('node:https'):require('node:http');s.get({host:'127.0.0.1',port:process.env.PORT||3002,path:'/healthz',timeout:4000,rejectUnauthorized:false},(r)=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"
CMD ["node", "dist/main.js"]
