#!/usr/bin/env bash
# The Deployment overlay (deploy/k8s/deployment) run the way a kubelet would, without a
# cluster: each replica a podman container made exactly from the rendered pod template
# (tests/deploy/lib.sh), its startup, readiness and liveness probes polled at their declared
# periods, timeouts and thresholds and acted on (not ready after failureThreshold failures,
# a restart when liveness or startup fails). Rows are written throughout:
#   - the first replica starts, passes its probes and streams (/readyz 200 "streaming");
#   - the second starts, passes its probes (alive: /healthz) and stands by (/readyz 503
#     "standby");
#   - deleting the first (SIGTERM, SIGKILL after terminationGracePeriodSeconds) ends it
#     with exit 0, and the second takes over (/readyz 200) within seconds;
#   - every row arrives exactly once.
# The one liberty: both replicas share the host's network here, so each listens on its own
# port (OUTBOX_RELAY_HTTP_LISTEN) where a pod would have its own address; the probes use it.
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=tests/deploy/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

HTTP_BASE=$((20000 + RANDOM % 20000))
setup_db
render dep deployment Deployment relay -- "OUTBOX_RELAY_POSTGRES_SLOT=$SLOT" \
  "OUTBOX_RELAY_OUTBOX_TOPIC=it.$ID.order" OUTBOX_RELAY_POSTGRES_STATUS_INTERVAL_MS=1000
container=$(jq -c 'select(.kind == "Deployment") | .spec.template.spec.containers[0]' "$WORK/dep.json")
replicas=$(jq -r 'select(.kind == "Deployment") | .spec.replicas' "$WORK/dep.json")
((replicas == 2)) || fail "the Deployment has $replicas replicas, not 2"

# probe I KIND: one HTTP probe of pod I as declared (path, timeoutSeconds); 0 when it passes.
probe() {
  local code path timeout
  path=$(jq -r ".${2}Probe.httpGet.path" <<<"$container")
  timeout=$(jq -r ".${2}Probe.timeoutSeconds // 1" <<<"$container")
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$timeout" "http://127.0.0.1:$((HTTP_BASE + $1))$path") || true
  ((code >= 200 && code < 400))
}
decl() { jq -r ".${1}Probe.${2} // $3" <<<"$container"; } # decl KIND FIELD DEFAULT
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# kubelet I: runs pod I until $WORK/pod-I.delete appears, then deletes it (SIGTERM, SIGKILL
# after the grace period). Its state ("started ready") is in $WORK/pod-I.state, its probe
# transitions and exit in $WORK/pod-I.events.
kubelet() {
  local i=$1 pod=pod-$ID-$1 t next_s=0 next_r=0 next_l=0 started=0 ready=0 fs=0 fr=0 fl=0
  pod_args dep Deployment "OUTBOX_RELAY_HTTP_LISTEN=127.0.0.1:$((HTTP_BASE + i))"
  ev() { echo "$(now_ms) $*" >>"$WORK/pod-$i.events"; }
  pm run -d --name "$pod" "${ARGS[@]}" >/dev/null
  ev created
  while [[ ! -e $WORK/pod-$i.delete ]]; do
    t=$(now_ms)
    if ((!started && t >= next_s)); then
      next_s=$((t + $(decl startup periodSeconds 10) * 1000))
      if probe "$i" startup; then
        started=1 fs=0 next_r=$t next_l=$((t + $(decl liveness periodSeconds 10) * 1000))
        ev started
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
  pm stop -t "$GRACE" "$pod" >/dev/null
  ev "exit $(pm inspect --format '{{.State.ExitCode}}' "$pod")"
  pm logs "$pod" >"$WORK/pod-$i.log" 2>&1
}
wait_ready() { # wait_ready I SECONDS
  local deadline=$((SECONDS + $2))
  until [[ $(cat "$WORK/pod-$1.state" 2>/dev/null) == "1 1" ]]; do
    ((SECONDS < deadline)) || fail "pod $1 not ready after $2 s: $(cat "$WORK/pod-$1.events" 2>/dev/null)"
    sleep 0.2
  done
}
readyz() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$((HTTP_BASE + $1))/readyz" || true; }

psql -X -q -v ON_ERROR_STOP=1 "$DBURL" -c "CREATE TABLE writer_stop (stop bool)"
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
trap 'rc=$?; kill "$WRITER_PID" 2>/dev/null; touch "$WORK"/pod-0.delete "$WORK"/pod-1.delete; wait; (exit $rc); rm_pods; cleanup' EXIT

PODS_RUNNING+=("pod-$ID-0" "pod-$ID-1")
kubelet 0 &
wait_ready 0 60
[[ $(readyz 0) == 200 ]] || fail "the first replica is ready but /readyz says $(readyz 0), not 200 (streaming)"
log "replica 0: started, ready, streaming"
kubelet 1 &
wait_ready 1 60
[[ $(readyz 1) == 503 ]] || fail "the second replica's /readyz says $(readyz 1), not 503 (standby)"
log "replica 1: started, ready (alive), standing by"
sleep 2

touch "$WORK/pod-0.delete"
t0=$SECONDS
deadline=$((SECONDS + 60))
until [[ $(readyz 1) == 200 ]]; do
  ((SECONDS < deadline)) || fail "the standby did not take over in 60 s"
  sleep 0.2
done
log "replica 1 streams $((SECONDS - t0)) s after the first was deleted"
deadline=$((SECONDS + 90))
until grep -q "^[0-9]* exit" "$WORK/pod-0.events"; do
  ((SECONDS < deadline)) || fail "pod 0 did not end"
  sleep 0.2
done
grep -q "exit 0$" "$WORK/pod-0.events" || fail "pod 0 ended with $(grep exit "$WORK/pod-0.events")"
sleep 2

psql -X -q "$DBURL" -c "INSERT INTO writer_stop VALUES (true)"
wait "$WRITER_PID" || true
wait_confirmed "$(current_lsn)" 60
touch "$WORK/pod-1.delete"
wait
grep -q "exit 0$" "$WORK/pod-1.events" || fail "pod 1 ended with $(grep exit "$WORK/pod-1.events")"
cat "$WORK"/pod-*.log >>"$WORK/relay.log"

consume "it.$ID.order" >"$WORK/records"
sql -c "SELECT id FROM outbox" >"$WORK/expected"
exactly_once "two replicas, the first deleted" "$WORK/records" "$WORK/expected" --per-key-order
log "ok: $(wc -l <"$WORK/expected") rows written throughout -> each once; replica 0 streamed, 1 stood by and took over; probes as declared"
