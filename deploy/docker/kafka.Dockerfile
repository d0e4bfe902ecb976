# Kafka (KRaft, single node: broker + controller) from the Maven Central jars scripts/install.sh resolves, on Debian's
# Java runtime. Context: the repository root.
ARG BASE_IMAGE=debian:12.15-slim
FROM ${BASE_IMAGE} AS build
COPY scripts/ /src/scripts/
COPY deploy/docker/build-server.sh /src/deploy/docker/
COPY deploy/docker/local/ca-certificates/ /usr/local/share/ca-certificates/
COPY deploy/docker/local/kafka/ /cache/kafka/
RUN /src/deploy/docker/build-server.sh kafka

FROM ${BASE_IMAGE}
ARG BASE_IMAGE
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
ARG KAFKA_VERSION=3.9.1
LABEL org.opencontainers.image.title="kafka for meshbridge" \
      org.opencontainers.image.description="Apache Kafka ${KAFKA_VERSION} (KRaft, single node) from Maven Central jars" \
      org.opencontainers.image.version="${KAFKA_VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
COPY --from=build /out/libs /opt/kafka/libs
COPY deploy/docker/kafka/ /opt/kafka/config/
RUN mkdir -p /var/lib/kafka/data && chown -R 10001:10001 /var/lib/kafka
USER 10001:10001
VOLUME /var/lib/kafka/data
EXPOSE 9092
HEALTHCHECK --interval=3s --timeout=3s --start-period=60s --retries=3 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9092"]
ENTRYPOINT ["/opt/kafka/config/kafka.sh"]
