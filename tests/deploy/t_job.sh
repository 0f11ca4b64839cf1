#!/usr/bin/env bash
# The backfill Job of deploy/k8s/jobs as Kubernetes runs it, without a cluster: the overlay
# is rendered with a test overlay on top (what differs per environment: the Secret's libpq
# URI, the brokers, the relay's name and topics — as a user's overlay would), and this script
# plays the kubelet and the Job controller. Each pod is a podman container with exactly the
# rendered image, args, env (Secret and ConfigMap values resolved), ConfigMap files mounted
# where the volumeMounts say, the security context (user, read-only root, capabilities,
# no-new-privileges) and the memory limit; a stop is SIGTERM, then SIGKILL after
# terminationGracePeriodSeconds. The Job's podFailurePolicy and backoffLimit, read from the
# rendered Job, decide after each pod: complete, a new pod (counted or not), or failed.
#   - a SIGTERM mid-job (a drain): exit 81, a new pod not counted, which finishes the job:
#     every row of the selection exactly once
#   - a bad setting: exit 78, the Job fails at once (one pod)
#   - Kafka unreachable: exit 69, retried until backoffLimit (5 pods), then failed
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=deploy/container/podman.sh
source "$ROOT/deploy/container/podman.sh"

TOOLS=$ROOT/.local/tools
YQ_VERSION=v4.44.3
"$ROOT/tests/deploy/t_k8s.sh" >/dev/null 2>&1 || fail "tests/deploy/t_k8s.sh (kustomize, kubernetes-validate) failed"
if [[ ! -x $TOOLS/bin/yq ]]; then
  log "building yq $YQ_VERSION"
  GOBIN=$TOOLS/bin go install "github.com/mikefarah/yq/v4@$YQ_VERSION" >&2
fi
POD=
rm_pod() { # keeps the exit status for cleanup
  local rc=$?
  [[ -z $POD ]] || pm rm -f -t 0 "$POD" >/dev/null 2>&1 || true
  return $rc
}
trap "rm_pod; cleanup" EXIT

# render NAME [KEY=VALUE...]: deploy/k8s/jobs under a test overlay whose patch sets this
# test's values (plus KEY=VALUE) as a user's overlay would, as JSON objects, one a line, in
# $WORK/NAME.json. The env entries merge by name (a strategic merge patch).
render() {
  local name=$1 dir=$WORK/$1 kv
  shift
  mkdir -p "$dir"
  {
    echo "resources: [$(realpath --relative-to="$dir" "$ROOT/deploy/k8s/jobs")]"
    echo "secretGenerator: [{name: outbox-relay, literals: ['conninfo=$DBURL']}]"
    echo "images: [{name: localhost/outbox-relay, newName: $IMAGE_NAME, newTag: '$IMAGE_TAG'}]"
    echo "patches: [{path: patch.yaml}]"
  } >"$dir/kustomization.yaml"
  {
    echo "{apiVersion: batch/v1, kind: Job, metadata: {name: $JOB_NAME}, spec: {template: {spec: {containers: [{"
    echo "  name: backfill,"
    echo "  args: [backfill, -c, /etc/outbox-relay/outbox-relay.conf, --job, j1, --topic, $TOPIC, --rate, '20000'],"
    echo "  env: ["
    local -A env=([OUTBOX_RELAY_NAME]=relay-$ID [OUTBOX_RELAY_KAFKA_BROKERS]=$KAFKA_BROKERS
      [OUTBOX_RELAY_KAFKA_CHECKPOINT_TOPIC]=it.$ID.checkpoints)
    for kv in "$@"; do env[${kv%%=*}]=${kv#*=}; done
    for kv in "${!env[@]}"; do echo "    {name: $kv, value: '${env[$kv]}'},"; done
    echo "]}]}}}}"
  } >"$dir/patch.yaml"
  "$TOOLS/bin/kustomize" build "$dir" | "$TOOLS/bin/yq" -o=json -I=0 '.' >"$WORK/$name.json" ||
    fail "rendering $name"
}
doc() { jq -c "select(.kind == \"$2\" and .metadata.name == \"$3\")" "$WORK/$1.json"; } # doc NAME KIND NAME

# pod_args NAME: podman run arguments for the Job's pod, from the rendered objects.
pod_args() {
  local name=$1 job spec c v
  job=$(jq -c 'select(.kind == "Job")' "$WORK/$name.json")
  spec=$(jq -c '.spec.template.spec' <<<"$job")
  c=$(jq -c '.containers[0]' <<<"$spec")
  ARGS=(--network host --stop-timeout "$(jq -r '.terminationGracePeriodSeconds // 30' <<<"$spec")")
  # The security context: the container's settings over the pod's.
  local sc
  sc=$(jq -c '(.securityContext // {}) as $p | ($p + ($c.securityContext // {}))' --argjson c "$c" <<<"$spec")
  ARGS+=(--user "$(jq -r '"\(.runAsUser):\(.runAsGroup)"' <<<"$sc")")
  [[ $(jq -r '.readOnlyRootFilesystem' <<<"$sc") == true ]] && ARGS+=(--read-only)
  [[ $(jq -r '.allowPrivilegeEscalation' <<<"$sc") == false ]] && ARGS+=(--security-opt no-new-privileges)
  jq -e '.capabilities.drop | index("ALL")' <<<"$sc" >/dev/null && ARGS+=(--cap-drop all)
  v=$(jq -r '.resources.limits.memory // empty' <<<"$c")
  [[ -n $v ]] && ARGS+=(--memory "$(sed 's/Mi$/m/; s/Gi$/g/' <<<"$v")")
  # env: values, or resolved from the rendered Secret / ConfigMap.
  local n val ref
  while IFS=$'\x1f' read -r n val ref; do # not a tab: an empty value would vanish
    if [[ $ref == secret:* ]]; then
      ref=${ref#secret:}
      val=$(doc "$name" Secret "${ref%%/*}" | jq -r --arg k "${ref#*/}" '.data[$k]' | base64 -d)
    fi
    ARGS+=(-e "$n=$val")
  done < <(jq -r '.env[] | [.name, (.value // ""),
      (if .valueFrom.secretKeyRef then "secret:" + .valueFrom.secretKeyRef.name + "/" + .valueFrom.secretKeyRef.key else "" end)] | join("\u001f")' <<<"$c")
  # volumeMounts of ConfigMap volumes: the ConfigMap's files in a directory, mounted read-only.
  local mount vol cm dir
  while IFS=$'\t' read -r mount vol; do
    cm=$(jq -r --arg v "$vol" '.volumes[] | select(.name == $v) | .configMap.name' <<<"$spec")
    dir=$WORK/$name.cm.$cm
    mkdir -p "$dir"
    doc "$name" ConfigMap "$cm" | jq -r '.data | keys[]' | while read -r k; do
      doc "$name" ConfigMap "$cm" | jq -r --arg k "$k" '.data[$k]' >"$dir/$k"
    done
    chmod -R a+rX "$dir"
    ARGS+=(-v "$dir:$mount:ro")
  done < <(jq -r '.volumeMounts[] | [.mountPath, .name] | @tsv' <<<"$c")
  ARGS+=("$(jq -r '.image' <<<"$c")")
  mapfile -t -O "${#ARGS[@]}" ARGS < <(jq -r '.args[]' <<<"$c")
  CONTAINER_NAME=$(jq -r '.name' <<<"$c")
}

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
  local name=$1 stop_after=${2:-} limit failures=0 code action
  limit=$(jq -r 'select(.kind == "Job") | .spec.backoffLimit // 6' "$WORK/$name.json")
  pod_args "$name"
  PODS=0 CODES=
  while :; do
    POD=pod-$ID-$PODS
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
    POD=
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

"$ROOT/deploy/container/build.sh" "$IMAGE" >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log" >&2; fail "build.sh failed"; }
IMAGE_NAME=${IMAGE%:*}
IMAGE_TAG=${IMAGE##*:}
TOPIC=it.$ID.replay
JOB_NAME=$("$TOOLS/bin/kustomize" build "$ROOT/deploy/k8s/jobs" | "$TOOLS/bin/yq" 'select(.kind == "Job") | .metadata.name')
setup_db
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
SELECT 'order', 'agg-' || (g % 101), 'OrderCreated', jsonb_build_object('n', g) FROM generate_series(1, 60000) g"

render drain
run_job drain 1.5
[[ $JOB_RESULT == Complete && $CODES == "81 0 " ]] ||
  fail "drain: $JOB_RESULT after exit codes $CODES (want 81, then 0: Complete)"
consume "$TOPIC" >"$WORK/records"
sql -c "SELECT id FROM outbox" >"$WORK/expected"
exactly_once "the backfill Job across a drain" "$WORK/records" "$WORK/expected" --per-key-order
log "drain: exit 81, a new pod finished the job: $(wc -l <"$WORK/records") records, each row once"

render badconf OUTBOX_RELAY_BATCH_MAX_EVENTS=0
run_job badconf
[[ $JOB_RESULT == Failed && $CODES == "78 " ]] || fail "bad setting: $JOB_RESULT after exit codes $CODES (want 78: Failed at once)"

render nokafka OUTBOX_RELAY_KAFKA_BROKERS=127.0.0.1:1 OUTBOX_RELAY_POSTGRES_CONNECT_TIMEOUT_S=1
run_job nokafka
limit=$(jq -r 'select(.kind == "Job") | .spec.backoffLimit' "$WORK/nokafka.json")
[[ $JOB_RESULT == Failed && $PODS == $((limit + 1)) && $CODES == "$(printf '69 %.0s' $(seq 0 "$limit"))" ]] ||
  fail "Kafka away: $JOB_RESULT after $PODS pods, exit codes $CODES (want 69 x $((limit + 1)): Failed)"
log "ok: drain -> 81, continued, exactly once; 78 -> Failed at once; 69 -> $PODS pods, then Failed"
