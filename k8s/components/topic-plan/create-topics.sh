#!/bin/sh
# Creates hunt's topics (idempotent). Reads HUNT_* from hunt-config and
# TOPIC_* from hunt-topic-plan, SASL credentials from the files of Secret
# hunt-kafka-credentials; run by job.yaml in the apache/kafka image.
set -eu

cfg=/tmp/client.properties
creds=/etc/hunt/kafka-credentials
{
  echo "security.protocol=${HUNT_SECURITY_PROTOCOL}"
  case "${HUNT_SECURITY_PROTOCOL}" in
    SASL_*)
      echo "sasl.mechanism=${HUNT_SASL_MECHANISM}"
      if [ "${HUNT_SASL_MECHANISM}" = PLAIN ]; then
        module=org.apache.kafka.common.security.plain.PlainLoginModule
      else
        module=org.apache.kafka.common.security.scram.ScramLoginModule
      fi
      user=$(cat "$creds/username")
      password=$(cat "$creds/password")
      echo "sasl.jaas.config=${module} required username=\"${user}\" password=\"${password}\";"
      ;;
  esac
  if [ -n "${HUNT_SSL_CAFILE:-}" ]; then
    echo "ssl.truststore.type=PEM"
    echo "ssl.truststore.location=${HUNT_SSL_CAFILE}"
  fi
} > "$cfg"

bootstrap=${HUNT_BROKER}
bin=/opt/kafka/bin

create() {
  topic=$1
  shift
  "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --command-config "$cfg" \
    --create --if-not-exists --topic "$topic" \
    --partitions "${HUNT_PARTITIONS}" --replication-factor "${HUNT_REPLICATION_FACTOR}" \
    --config "min.insync.replicas=${TOPIC_MIN_INSYNC_REPLICAS}" "$@"
}

# Inputs: both with HUNT_PARTITIONS partitions, which is also the number of
# table (changelog) partitions, so a product's state lives in one place.
create "${HUNT_TOPIC_BEHAVIOR}" --config cleanup.policy=delete --config "retention.ms=${TOPIC_RETENTION_MS}"
create "${HUNT_TOPIC_INVENTORY}" --config cleanup.policy=delete --config "retention.ms=${TOPIC_RETENTION_MS}"
# Outputs.
# Outputs carry event time, which may lead the broker clock by more than its 1 h default.
create "${HUNT_TOPIC_ALERTS}" --config cleanup.policy=delete --config "retention.ms=${TOPIC_RETENTION_MS}" \
  --config message.timestamp.after.max.ms=9223372036854775807
create "${HUNT_TOPIC_PRODUCT_STATE}" --config cleanup.policy=compact --config min.cleanable.dirty.ratio=0.1 \
  --config message.timestamp.after.max.ms=9223372036854775807
create "${HUNT_TOPIC_DLQ}" --config cleanup.policy=delete --config "retention.ms=${TOPIC_DLQ_RETENTION_MS}" \
  --config message.timestamp.after.max.ms=9223372036854775807

# Internal topics (<app id>-...-changelog compacted, <app id>-reroute,
# <app id>-__assignor-__leader) are created by the workers with the replication
# factor HUNT_REPLICATION_FACTOR; give the ones that exist the same
# min.insync.replicas. Run the Job again after the first start to cover them.
"$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --command-config "$cfg" --list \
  | grep "^${HUNT_APP_ID}-" | while read -r topic; do
    "$bin/kafka-configs.sh" --bootstrap-server "$bootstrap" --command-config "$cfg" \
      --alter --entity-type topics --entity-name "$topic" \
      --add-config "min.insync.replicas=${TOPIC_MIN_INSYNC_REPLICAS}"
  done

"$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --command-config "$cfg" --describe \
  --topic "^(${HUNT_APP_ID}-.*|$(echo "${HUNT_TOPIC_BEHAVIOR}|${HUNT_TOPIC_INVENTORY}|${HUNT_TOPIC_ALERTS}|${HUNT_TOPIC_PRODUCT_STATE}|${HUNT_TOPIC_DLQ}" | sed 's/\./\\./g'))\$"
