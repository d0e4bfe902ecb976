# Consul, built from the Go module proxy by scripts/install.sh. Context: the repository root.
ARG BASE_IMAGE=debian:12.15-slim
FROM ${BASE_IMAGE} AS build
COPY scripts/ /src/scripts/
COPY deploy/docker/build-server.sh /src/deploy/docker/
COPY deploy/docker/local/ca-certificates/ /usr/local/share/ca-certificates/
COPY deploy/docker/local/consul/ /cache/consul/
RUN /src/deploy/docker/build-server.sh consul

FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ARG CONSUL_VERSION=1.22.0
LABEL org.opencontainers.image.title="consul for meshbridge" \
      org.opencontainers.image.description="HashiCorp Consul ${CONSUL_VERSION}, built from the Go module proxy" \
      org.opencontainers.image.version="${CONSUL_VERSION}" \
      org.opencontainers.image.licenses="BUSL-1.1" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
COPY --from=build /out/consul /usr/local/bin/consul
USER 10001:10001
WORKDIR /tmp
EXPOSE 8500
HEALTHCHECK --interval=3s --timeout=3s --start-period=30s --retries=3 CMD ["consul", "catalog", "services"]
ENTRYPOINT ["consul"]
# A dev agent: one server, state in memory. The HTTP API on every interface; gossip and RPC on loopback.
CMD ["agent", "-dev", "-client=0.0.0.0", "-bind=127.0.0.1", "-log-level=warn"]
