#!/usr/bin/env bash
# A real Prometheus (Debian's) scrapes two relays of one name every second: through its HTTP
# API, outbox_relay_events_published_total of the streaming one rises by exactly the rows
# committed, outbox_relay_lag_seconds is seen above 0 while a batch lingers and returns to
# 0, and the second reports state="standby" (its /readyz: 503 "standby"); promtool finds
# nothing to complain about in either exposition, and every expression of the Grafana
# dashboard runs on it (alerts.yml loaded). Then the standby takes over and is ready.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
command -v prometheus >/dev/null || fail "prometheus is not installed (Debian package prometheus; deploy/local/up.sh installs it)"

setup_db
export OUTBOX_RELAY_HTTP_LISTEN=127.0.0.1:0
# a batch waits 2 s (no adaptive commit): lag_seconds is seen above 0
export OUTBOX_RELAY_BATCH_ADAPTIVE=false OUTBOX_RELAY_BATCH_LINGER_MS=2000

relay_start
a=$(http_address "$WORK/relay.log")
wait_http "http://$a/readyz" 200
"$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >"$WORK/standby.log" 2>&1 &
BG_PIDS+=($!)
standby=$!
b=$(http_address "$WORK/standby.log")
wait_http "http://$b/readyz" 503
[[ $(curl -s "http://$b/readyz") == standby ]] || fail "the standby's /readyz says '$(curl -s "http://$b/readyz")', not 'standby'"
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://$b/healthz") == 200 ]] || fail "the standby's /healthz is not 200"

port=$(free_port)
cat >"$WORK/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: ['$ROOT/deploy/prometheus/alerts.yml']
scrape_configs:
  - job_name: outbox-relay
    static_configs:
      - { targets: ['$a'], labels: { replica: a } }
      - { targets: ['$b'], labels: { replica: b } }
YML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
  --web.listen-address="127.0.0.1:$port" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
BG_PIDS+=($!)
wait_http "http://127.0.0.1:$port/-/ready" 200
# query PROMQL: the value of its first series, "" when there is none.
query() {
  curl -s --max-time 5 "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$1" |
    jq -r '.data.result[0].value[1] // empty'
}
# until_value PROMQL VALUE [SECONDS]: until the query gives VALUE.
until_value() {
  local deadline=$((SECONDS + ${3:-20})) v
  while ((SECONDS < deadline)); do
    v=$(query "$1")
    [[ $v == "$2" ]] && return 0
    sleep 0.5
  done
  fail "$1 is '$v', not $2 after ${3:-20} s (prometheus log: $(tail -3 "$WORK/prometheus.log"))"
}
until_value 'up{replica="b"}' 1
until_value 'outbox_relay_state{replica="a",state="streaming"}' 1
before=$(query 'outbox_relay_events_published_total{replica="a"}')
[[ -n $before ]] || fail "Prometheus has no events_published_total of the streaming relay"

# 1000 rows in 10 transactions, and 50 rolled back (never published).
t0=$SECONDS
for i in {1..10}; do
  echo "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) SELECT 'order', 'k' || g, 'OrderCreated', '{}' FROM generate_series(1, 100) g;"
done | sql
sql -c "BEGIN; INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) SELECT 'order', 'r' || g, 'OrderCreated', '{}' FROM generate_series(1, 50) g; ROLLBACK;"
until_value 'outbox_relay_events_published_total{replica="a"}' $((before + 1000))
log "Prometheus saw events_published_total rise by 1000 in $((SECONDS - t0)) s"
seen=$(query 'max_over_time(outbox_relay_lag_seconds{replica="a"}[1m])')
[[ $(jq -n "$seen > 0") == true ]] || fail "lag_seconds was never above 0 while a batch lingered (max $seen)"
until_value 'outbox_relay_lag_seconds{replica="a"}' 0
log "lag_seconds peaked at $seen s and returned to 0"
sleep 2 # nothing more is counted later
[[ $(query 'outbox_relay_events_published_total{replica="a"}') == $((before + 1000)) ]] || fail "events_published_total moved past the rows written"
until_value 'outbox_relay_state{replica="b",state="standby"}' 1
until_value 'sum(outbox_relay_state{replica="b"})' 1
p99=$(query 'histogram_quantile(0.99, sum(rate(outbox_relay_end_to_end_seconds_bucket{replica="a"}[1m])) by (le))')
log "end-to-end p99 by Prometheus: $p99 s (with a 2 s linger)"

for addr in "$a" "$b"; do
  curl -s "http://$addr/metrics" >"$WORK/exposition"
  out=$(promtool check metrics <"$WORK/exposition" 2>&1) || fail "promtool check metrics failed on $addr: $out"
  [[ -z $out ]] || fail "promtool check metrics complains about $addr: $out"
done

# Every expression of the Grafana dashboard runs on this Prometheus (promtool query).
n=0 with_data=0
while IFS= read -r expr; do
  out=$(promtool query instant "http://127.0.0.1:$port" "$expr" 2>&1) || fail "dashboard expression fails: $expr: $out"
  n=$((n + 1))
  [[ -z $out ]] || with_data=$((with_data + 1))
done < <(jq -r '.panels[].targets[].expr | gsub("\\$__rate_interval"; "1m") | gsub("\\$instance"; ".*")' "$ROOT/deploy/grafana/outbox-relay.json")
((with_data > n / 2)) || fail "only $with_data of $n dashboard expressions return data"
log "$n dashboard expressions run by promtool, $with_data with data"

relay_stop # the standby takes over and becomes ready
wait_http "http://$b/readyz" 200 20
until_value 'outbox_relay_state{replica="b",state="streaming"}' 1
RELAY_PID=$standby
relay_stop
log "ok: Prometheus counted 1000, lag back to 0, standby reported and took over; promtool clean"
