# ZooKeeper 3.8 from Debian's package, run standalone with our own zoo.cfg (not the package's init scripts).
# Context: the repository root.
ARG BASE_IMAGE=debian:12.15-slim
FROM ${BASE_IMAGE}
ARG BASE_IMAGE
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends zookeeper >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
LABEL org.opencontainers.image.title="zookeeper for meshbridge" \
      org.opencontainers.image.description="Apache ZooKeeper 3.8 from Debian's package, standalone" \
      org.opencontainers.image.version="3.8" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
COPY deploy/docker/zookeeper/ /etc/meshbridge-zookeeper/
RUN mkdir -p /var/lib/zookeeper-data && chown 10001:10001 /var/lib/zookeeper-data
VOLUME /var/lib/zookeeper-data
USER 10001:10001
EXPOSE 2181
# The four-letter-word `ruok` answers only when zoo.cfg whitelists it (4lw.commands.whitelist); bash's /dev/tcp
# talks to it without netcat.
HEALTHCHECK --interval=3s --timeout=3s --start-period=30s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/2181 && printf ruok >&3 && [ \"$(timeout 2 cat <&3)\" = imok ]"]
ENTRYPOINT ["java", "-Xmx256m", "-Dlog4j.configuration=file:/etc/meshbridge-zookeeper/log4j.properties", "-cp", "/usr/share/java/zookeeper.jar", \
            "org.apache.zookeeper.server.ZooKeeperServerMain", "/etc/meshbridge-zookeeper/zoo.cfg"]
