# istiod (pilot-discovery) of the 1.30 line, built from the Go module proxy by scripts/install.sh with the project's
# nil-guard patch (scripts/patches/), so it runs without Kubernetes with meshbridge's gateways as its config source.
# Context: the repository root.
ARG BASE_IMAGE=debian:12.15-slim
FROM ${BASE_IMAGE} AS build
COPY scripts/ /src/scripts/
COPY deploy/docker/build-server.sh /src/deploy/docker/
COPY deploy/docker/local/ca-certificates/ /usr/local/share/ca-certificates/
COPY deploy/docker/local/istiod/ /cache/istiod/
RUN /src/deploy/docker/build-server.sh istiod

FROM ${BASE_IMAGE}
ARG BASE_IMAGE
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends socat >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
ARG ISTIO_VERSION=1.30-b01690e6
LABEL org.opencontainers.image.title="istiod (pilot-discovery) for meshbridge" \
      org.opencontainers.image.description="istio pilot-discovery ${ISTIO_VERSION}, built from the Go module proxy with meshbridge's nil-guard patch for running without Kubernetes" \
      org.opencontainers.image.version="${ISTIO_VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
COPY --from=build /out/pilot-discovery /usr/local/bin/pilot-discovery
COPY deploy/docker/istiod/istiod.sh /usr/local/bin/istiod.sh
ENV POD_NAMESPACE=istio-system POD_NAME=istiod ENABLE_CA_SERVER=false PILOT_ENABLE_CONFIG_DISTRIBUTION_TRACKING=false
USER 10001:10001
WORKDIR /tmp
EXPOSE 15010 15014 15015 8080
# Without a Kubernetes API server /ready stays 503 on this line (README, "istiod version"); istiod opens its xDS port
# only after every config type was answered by every config source and its caches synced: that is readiness here.
HEALTHCHECK --interval=3s --timeout=3s --start-period=60s --retries=3 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/15010"]
ENTRYPOINT ["istiod.sh"]
CMD ["discovery", "--registries=", "--meshConfig=/etc/istio/mesh.yaml", "--grpcAddr=:15010", "--httpAddr=:8080", "--monitoringAddr=:15014", "--secureGRPCAddr=", "--httpsAddr=", "--ctrlz_port=0"]
