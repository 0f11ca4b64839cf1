#!/usr/bin/env bash
# Drive the local Kafka broker for fault tests.
#   stop    SIGTERM (clean shutdown), wait; SIGKILL after the stop timeout
#   kill    SIGKILL (crash), wait until gone
#   start   start on the existing data and wait until it answers
#   pause   SIGSTOP (broker hangs, connections stay open)
#   resume  SIGCONT
#   status  print the pid, exit 1 if not running
#   topics ARGS...   kafka-topics (org.apache.kafka.tools.TopicCommand) on the plaintext
#                    listener: topics --create --if-not-exists --topic T --partitions N
#   acls ARGS...     kafka-acls (org.apache.kafka.tools.AclCommand) as the admin user over
#                    SASL_SSL (SCRAM-SHA-512) of the OUTBOX_TLS setup
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

pid_or_die() { kafka_pid || die "Kafka is not running"; }

case ${1:-} in
  stop) kafka_signal_stop TERM ;;
  kill) kafka_signal_stop KILL ;;
  start) kafka_start ;;
  pause) kill -s STOP "$(pid_or_die)" ;;
  resume) kill -s CONT "$(pid_or_die)" ;;
  status) pid_or_die ;;
  topics)
    shift
    kafka_tool TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" "$@"
    ;;
  acls)
    shift
    tls_certs
    kafka_tool AclCommand --bootstrap-server "127.0.0.1:$KAFKA_SASL_PORT" \
      --command-config "$TLS_DIR/admin.properties" "$@"
    ;;
  *) die "usage: $0 stop|kill|start|pause|resume|status|topics ARGS...|acls ARGS..." ;;
esac
