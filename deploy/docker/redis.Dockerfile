# Redis 7.0 from Debian's package. Context: the repository root.
ARG BASE_IMAGE=debian:12.15-slim
FROM ${BASE_IMAGE}
ARG BASE_IMAGE
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && mkdir -p /data && chown 10001:10001 /data
LABEL org.opencontainers.image.title="redis for meshbridge" \
      org.opencontainers.image.description="Redis 7.0 from Debian's package" \
      org.opencontainers.image.version="7.0" \
      org.opencontainers.image.licenses="BSD-3-Clause" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 6379
HEALTHCHECK --interval=3s --timeout=3s --start-period=10s --retries=3 CMD ["bash", "-c", "[ \"$(redis-cli ping)\" = PONG ]"]
# AOF on the volume: meshbridge's snapshot, offsets and fencing state survive `docker compose down`/`up`.
ENTRYPOINT ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data", "--appendonly", "yes", "--save", ""]
