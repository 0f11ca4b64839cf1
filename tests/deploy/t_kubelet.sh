#!/usr/bin/env bash
# The Deployment and sidecar overlays (deploy/k8s/deployment, deploy/k8s/sidecar) run the
# way a kubelet would, without a cluster: each replica's containers are podman containers
# made exactly from the rendered pod template (tests/deploy/lib.sh); the relay's startup,
# readiness and liveness probes are polled at their declared periods, timeouts and
# thresholds and acted on (not ready after failureThreshold failures, a restart when
# liveness or startup fails); a native sidecar starts first, the pod's main container only
# once the sidecar's startup probe passed, and stops last. For each overlay, with rows
# written throughout:
#   - the first replica passes its probes and streams (/readyz 200 "streaming");
#   - the second passes its probes (alive: /healthz) and stands by (/readyz 503);
#   - deleting the first (SIGTERM, SIGKILL after terminationGracePeriodSeconds; a sidecar
#     after the main container) ends its relay with exit 0, and the second takes over;
#   - every row arrives exactly once.
# The one liberty: the replicas share the host's network, so each relay listens on its own
# port (OUTBOX_RELAY_HTTP_LISTEN) where a pod would have its own address; the probes use it.
# In the sidecar overlay the order service is stood in by a shell that waits for SIGTERM.
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=tests/deploy/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

HTTP_BASE=$((20000 + RANDOM % 20000))
WRITER_PID=
setup_db
psql -X -q -v ON_ERROR_STOP=1 "$DBURL" -c "CREATE TABLE writer_stop (stop bool)"
trap 'rc=$?; set +e; [[ -z $WRITER_PID ]] || kill "$WRITER_PID" 2>/dev/null; touch "$WORK"/pod-{0,1,2,3}.delete; wait; rm_pods; (exit $rc); cleanup' EXIT

# probe I KIND: one HTTP probe of pod I's relay as declared (path, timeoutSeconds).
probe() {
  local code path timeout
  path=$(jq -r ".${2}Probe.httpGet.path" <<<"$RELAY")
  timeout=$(jq -r ".${2}Probe.timeoutSeconds // 1" <<<"$RELAY")
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$timeout" "http://127.0.0.1:$((HTTP_BASE + $1))$path") || true
  ((code >= 200 && code < 400))
}
decl() { jq -r ".${1}Probe.${2} // $3" <<<"$RELAY"; } # decl KIND FIELD DEFAULT
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# kubelet NAME I: runs pod I of the rendered Deployment NAME until $WORK/pod-I.delete
# appears, then deletes it. Its state ("started ready") is in $WORK/pod-I.state, its
# transitions and exit codes in $WORK/pod-I.events.
kubelet() {
  local name=$1 i=$2 pod=pod-$ID-$2 t next_s=0 next_r=0 next_l=0 started=0 ready=0 fs=0 fr=0 fl=0
  local -a relay_args main_args=()
  POD_CONTAINER=$RELAY_PATH pod_args "$name" Deployment "OUTBOX_RELAY_HTTP_LISTEN=127.0.0.1:$((HTTP_BASE + i))"
  relay_args=("${ARGS[@]}")
  if [[ -n $MAIN_PATH ]]; then
    POD_CONTAINER=$MAIN_PATH pod_args "$name" Deployment
    main_args=("${ARGS[@]}")
  fi
  ev() { echo "$(now_ms) $*" >>"$WORK/pod-$i.events"; }
  pm run -d --name "$pod" "${relay_args[@]}" >/dev/null
  ev "relay created"
  while [[ ! -e $WORK/pod-$i.delete ]]; do
    t=$(now_ms)
    if ((!started && t >= next_s)); then
      next_s=$((t + $(decl startup periodSeconds 10) * 1000))
      if probe "$i" startup; then
        started=1 fs=0 next_r=$t next_l=$((t + $(decl liveness periodSeconds 10) * 1000))
        ev started
        # A native sidecar's startup probe gates the pod's main container.
        if ((${#main_args[@]})) && ! pm container exists "$pod-main"; then
          pm run -d --name "$pod-main" "${main_args[@]}" >/dev/null && ev "main created"
        fi
      elif ((++fs >= $(decl startup failureThreshold 3))); then
        ev "startup failed $fs times: restart" && pm restart -t "$GRACE" "$pod" >/dev/null && fs=0
      fi
    fi
    if ((started && t >= next_r)); then
      next_r=$((t + $(decl readiness periodSeconds 10) * 1000))
      if probe "$i" readiness; then
        fr=0
        ((ready)) || { ready=1 && ev ready; }
      elif ((++fr >= $(decl readiness failureThreshold 3) && ready)); then
        ready=0 && ev "not ready"
      fi
    fi
    if ((started && t >= next_l)); then
      next_l=$((t + $(decl liveness periodSeconds 10) * 1000))
      if probe "$i" liveness; then
        fl=0
      elif ((++fl >= $(decl liveness failureThreshold 3))); then
        ev "liveness failed $fl times: restart" && pm restart -t "$GRACE" "$pod" >/dev/null
        started=0 ready=0 fl=0 next_s=0
      fi
    fi
    echo "$started $ready" >"$WORK/pod-$i.state"
    sleep 0.2
  done
  # Deletion: the main container first, then the sidecar (or the only container).
  if pm container exists "$pod-main"; then
    pm stop -t "$GRACE" "$pod-main" >/dev/null
    ev "main exit $(pm inspect --format '{{.State.ExitCode}}' "$pod-main")"
  fi
  pm stop -t "$GRACE" "$pod" >/dev/null
  ev "relay exit $(pm inspect --format '{{.State.ExitCode}}' "$pod")"
  pm logs "$pod" >"$WORK/pod-$i.log" 2>&1
}
wait_ready() { # wait_ready I SECONDS
  local deadline=$((SECONDS + $2))
  until [[ $(cat "$WORK/pod-$1.state" 2>/dev/null) == "1 1" ]]; do
    ((SECONDS < deadline)) || fail "pod $1 not ready after $2 s: $(cat "$WORK/pod-$1.events" 2>/dev/null)"
    sleep 0.2
  done
}
wait_event() { # wait_event I PATTERN SECONDS
  local deadline=$((SECONDS + $3))
  until grep -q "$2" "$WORK/pod-$1.events" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "pod $1: no '$2' in $3 s: $(cat "$WORK/pod-$1.events" 2>/dev/null)"
    sleep 0.2
  done
}
readyz() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$((HTTP_BASE + $1))/readyz" || true; }
wait_readyz() { # wait_readyz I CODE SECONDS: until pod I's /readyz answers CODE
  local deadline=$((SECONDS + $3))
  until [[ $(readyz "$1") == "$2" ]]; do
    ((SECONDS < deadline)) || fail "pod $1: /readyz answers $(readyz "$1"), not $2, after $3 s"
    sleep 0.2
  done
}

# scenario NAME FIRST: pods FIRST and FIRST+1 of the rendered Deployment NAME, as above.
scenario() {
  local name=$1 a=$2 b=$(($2 + 1)) t0
  RELAY=$(jq -c "select(.kind == \"Deployment\") | .spec.template.spec | $RELAY_PATH" "$WORK/$name.json")
  (($(jq -r 'select(.kind == "Deployment") | .spec.replicas' "$WORK/$name.json") == 2)) ||
    fail "$name: not 2 replicas"
  psql -X -q "$DBURL" -c "DELETE FROM writer_stop"
  psql -X -q -v ON_ERROR_STOP=1 "$DBURL" -c "DO \$\$
BEGIN
  LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM writer_stop);
    INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
      SELECT 'order', 'agg-' || (g % 17), 'OrderCreated', '{}' FROM generate_series(1, 20) g;
    COMMIT;
    PERFORM pg_sleep(0.01);
  END LOOP;
END \$\$" &
  WRITER_PID=$!
  PODS_RUNNING+=("pod-$ID-$a" "pod-$ID-$b" "pod-$ID-$a-main" "pod-$ID-$b-main")
  kubelet "$name" "$a" &
  wait_ready "$a" 60
  wait_readyz "$a" 200 30 # alive (ready) comes first; streaming once the producer is set up
  [[ -z $MAIN_PATH ]] || wait_event "$a" "main created" 5
  kubelet "$name" "$b" &
  wait_ready "$b" 60
  wait_event "$b" ready 5
  sleep 2 # a standby stays one
  [[ $(readyz "$b") == 503 ]] || fail "$name: the second replica's /readyz says $(readyz "$b"), not 503"
  log "$name: replica $a streams, replica $b is ready and stands by"
  sleep 2
  touch "$WORK/pod-$a.delete"
  t0=$SECONDS
  wait_readyz "$b" 200 60
  log "$name: replica $b streams $((SECONDS - t0)) s after replica $a was deleted"
  wait_event "$a" "relay exit" 90
  grep -q "relay exit 0$" "$WORK/pod-$a.events" || fail "$name: pod $a: $(cat "$WORK/pod-$a.events")"
  sleep 1
  psql -X -q "$DBURL" -c "INSERT INTO writer_stop VALUES (true)"
  wait "$WRITER_PID" || true
  WRITER_PID=
  wait_confirmed "$(current_lsn)" 60
  touch "$WORK/pod-$b.delete"
  wait_event "$b" "relay exit" 90
  grep -q "relay exit 0$" "$WORK/pod-$b.events" || fail "$name: pod $b: $(cat "$WORK/pod-$b.events")"
  if [[ -n $MAIN_PATH ]] && ! awk '/main exit/ { m = $1 } /relay exit/ { r = $1 } END { exit !(m && m <= r) }' "$WORK/pod-$a.events"; then
    fail "$name: the sidecar did not stop after the main container: $(cat "$WORK/pod-$a.events")"
  fi
  cat "$WORK/pod-$a.log" "$WORK/pod-$b.log" >>"$WORK/relay.log"
  consume "it.$ID.order" >"$WORK/records"
  sql -c "SELECT id FROM outbox" >"$WORK/expected"
  exactly_once "$name: two replicas, the first deleted" "$WORK/records" "$WORK/expected" --per-key-order
  log "$name: $(wc -l <"$WORK/expected") rows so far, each once"
}

settings=("OUTBOX_RELAY_POSTGRES_SLOT=$SLOT" "OUTBOX_RELAY_OUTBOX_TOPIC=it.$ID.order"
  OUTBOX_RELAY_POSTGRES_STATUS_INTERVAL_MS=1000)
render dep deployment Deployment relay -- "${settings[@]}"
RELAY_PATH='.containers[0]' MAIN_PATH='' scenario dep 0

EXTRA_PATCH="{apiVersion: apps/v1, kind: Deployment, metadata: {name: order-service},
  spec: {template: {spec: {containers: [{name: order-service, image: $IMAGE,
  command: [bash, -c, 'trap \"exit 0\" TERM; sleep infinity & wait']}]}}}}" \
  render side sidecar Deployment initContainers/relay -- "${settings[@]}"
RELAY_PATH='.initContainers[0]' MAIN_PATH='.containers[0]' scenario side 2
log "ok: the Deployment and the sidecar overlays, kubelet-style: one streams, one stands by and takes over, every row once"
