#!/usr/bin/env bash
# The backfill Job of deploy/k8s/jobs as Kubernetes runs it, without a cluster: the overlay
# is rendered with a test overlay on top (what differs per environment: the Secret's libpq
# URI, the brokers, the relay's name and topics — as a user's overlay would), and this script
# plays the kubelet (tests/deploy/lib.sh: each pod a podman container made exactly from the
# rendered pod template) and the Job controller. The Job's podFailurePolicy and backoffLimit, read from the
# rendered Job, decide after each pod: complete, a new pod (counted or not), or failed.
#   - a SIGTERM mid-job (a drain): exit 81, a new pod not counted, which finishes the job:
#     every row of the selection exactly once
#   - a bad setting: exit 78, the Job fails at once (one pod)
#   - Kafka unreachable: exit 69, retried until backoffLimit (5 pods), then failed
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=tests/deploy/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

# policy NAME EXIT_CODE: the action of the Job's podFailurePolicy for a pod that exited so
# (the first rule that matches; none: Count).
policy() {
  jq -r --argjson code "$2" --arg c "$CONTAINER_NAME" 'select(.kind == "Job") |
    [.spec.podFailurePolicy.rules[] | select(.onExitCodes != null) |
     select((.onExitCodes.containerName // $c) == $c) |
     select((.onExitCodes.values | index($code)) as $i |
            if .onExitCodes.operator == "In" then $i != null else $i == null end) | .action] |
    (.[0] // "Count")' "$WORK/$1.json"
}

# run_job NAME [STOP_AFTER_S]: the Job controller. Runs pods until the Job completes or
# fails; the first pod gets a SIGTERM after STOP_AFTER_S seconds (a drain). Sets JOB_RESULT
# (Complete, Failed), PODS, CODES (the exit codes in order).
run_job() {
  local name=$1 stop_after=${2:-} limit failures=0 code action POD
  limit=$(jq -r 'select(.kind == "Job") | .spec.backoffLimit // 6' "$WORK/$name.json")
  pod_args "$name" Job
  PODS=0 CODES=
  while :; do
    POD=pod-$ID-$PODS
    PODS_RUNNING+=("$POD")
    pm run -d --name "$POD" "${ARGS[@]}" >/dev/null
    PODS=$((PODS + 1))
    if [[ -n $stop_after ]]; then
      sleep "$stop_after"
      pm stop "$POD" >/dev/null # SIGTERM, SIGKILL after --stop-timeout
      stop_after=
    fi
    code=$(pm wait "$POD")
    pm logs "$POD" >>"$WORK/relay.log" 2>&1
    pm rm -f "$POD" >/dev/null
    CODES+="$code "
    ((code == 0)) && { JOB_RESULT=Complete; return; }
    action=$(policy "$name" "$code")
    log "$name: pod $PODS exited $code: $action"
    case $action in
    FailJob) JOB_RESULT=Failed; return ;;
    Ignore) ;;
    *) failures=$((failures + 1)) ;;
    esac
    ((failures > limit)) && { JOB_RESULT=Failed; return; }
    ((PODS < 20)) || fail "$name: more than 20 pods"
  done
}

TOPIC=it.$ID.replay
# render_job NAME [KEY=VALUE...]: the jobs overlay, the backfill's args for this test.
render_job() {
  local name=$1
  shift
  render "$name" jobs Job backfill \
    "args: [backfill, -c, /etc/outbox-relay/outbox-relay.conf, --job, j1, --topic, $TOPIC, --rate, '20000']" -- "$@"
}
setup_db
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
SELECT 'order', 'agg-' || (g % 101), 'OrderCreated', jsonb_build_object('n', g) FROM generate_series(1, 60000) g"

render_job drain
run_job drain 1.5
[[ $JOB_RESULT == Complete && $CODES == "81 0 " ]] ||
  fail "drain: $JOB_RESULT after exit codes $CODES (want 81, then 0: Complete)"
consume "$TOPIC" >"$WORK/records"
sql -c "SELECT id FROM outbox" >"$WORK/expected"
exactly_once "the backfill Job across a drain" "$WORK/records" "$WORK/expected" --per-key-order
log "drain: exit 81, a new pod finished the job: $(wc -l <"$WORK/records") records, each row once"

render_job badconf OUTBOX_RELAY_BATCH_MAX_EVENTS=0
run_job badconf
[[ $JOB_RESULT == Failed && $CODES == "78 " ]] || fail "bad setting: $JOB_RESULT after exit codes $CODES (want 78: Failed at once)"

render_job nokafka OUTBOX_RELAY_KAFKA_BROKERS=127.0.0.1:1 OUTBOX_RELAY_POSTGRES_CONNECT_TIMEOUT_S=1
run_job nokafka
limit=$(jq -r 'select(.kind == "Job") | .spec.backoffLimit' "$WORK/nokafka.json")
[[ $JOB_RESULT == Failed && $PODS == $((limit + 1)) && $CODES == "$(printf '69 %.0s' $(seq 0 "$limit"))" ]] ||
  fail "Kafka away: $JOB_RESULT after $PODS pods, exit codes $CODES (want 69 x $((limit + 1)): Failed)"
log "ok: drain -> 81, continued, exactly once; 78 -> Failed at once; 69 -> $PODS pods, then Failed"
