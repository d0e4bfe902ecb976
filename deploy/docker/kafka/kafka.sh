#!/bin/sh
# Formats the log directory once (fixed cluster id: the volume outlives containers, and a new id would refuse the
# old log), then runs the broker. The event log — meshbridge's system of record — lives on the volume.
set -euf  # -f: the classpath wildcard is for java, not for the shell
CLUSTER_ID=${KAFKA_CLUSTER_ID:-bWVzaGJyaWRnZS1rYWZrYQ}  # base64url("meshbridge-kafka")
JAVA="java ${KAFKA_HEAP_OPTS:--Xmx512m} -XX:+UseG1GC -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties -cp /opt/kafka/libs/*"
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  $JAVA kafka.tools.StorageTool format --cluster-id="$CLUSTER_ID" -c /opt/kafka/config/server.properties
fi
exec $JAVA kafka.Kafka /opt/kafka/config/server.properties
