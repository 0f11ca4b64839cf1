#!/usr/bin/env bash
# Latency benchmark: how soon a read_committed consumer sees an event. A steady writer
# (pgbench -R, one-row transactions, created_at = clock_timestamp()) inserts into the
# outbox at each RATE (transactions/s, default 1000 and 3000) for SECONDS (default 30);
# a live consumer (tests/tools/latency_consume.c, librdkafka defaults but read_committed)
# takes each record's delay from its timestamp (the row's created_at) to its arrival.
# Two relays run over each rate, one after the other on the same machine:
#   fixed     batch.adaptive = false: every batch waits out batch.linger_ms (100), the
#             relay's behaviour before adaptive batching (the baseline)
#   adaptive  the defaults: a batch is committed as soon as nothing more is ready
# Prints p50, p99 and max from created_at to receive, the CPU of the relay, of the
# walsender and of the broker over the writing window, and the relay's peak RSS. Where the
# time goes, from the relay's /metrics over the same window: Kafka transactions and events
# per transaction, the mean Kafka commit (kafka_commit_seconds) and the mean time from
# created_at to the end of the commit (end_to_end_seconds); the rest up to receive is the
# consumer's fetch. The last line is
#   latency p99_ms=<adaptive, at the highest rate> cpu_pct=<the relay's CPU there>
# Targets: p99 <= 50 ms and p50 <= 20 ms at 1,000 and 3,000 tx/s; relay CPU per event no
# higher than the fixed linger's.  Usage: [LATENCY_SECONDS=30] tests/bench/latency.sh [RATE...]
BENCH=latency
# shellcheck source=tests/bench/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
SECONDS_PER_RATE=${LATENCY_SECONDS:-30}
RATES=("$@")
((${#RATES[@]})) || RATES=(1000 3000)
CLIENTS=8

create_db sql/01_outbox.sql sql/02_publication.sql
cat >"$WORK/insert.sql" <<'EOF'
\set id random(1, 10000)
INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('order', 'order-' || :id, 'OrderCreated',
        '{"order_id": 1, "amount": 19.99, "currency": "EUR"}', clock_timestamp());
EOF
BROKER_PID=$(deploy/local/kafka.sh status)

# window ADDR: "transactions commit_s_sum commit_count e2e_s_sum e2e_count" now.
window() {
  local m
  m=$(curl -s "http://$1/metrics")
  awk '$1 == "outbox_relay_kafka_transactions_total{result=\"committed\"}" { t = $2 }
       $1 == "outbox_relay_kafka_commit_seconds_sum" { cs = $2 }
       $1 == "outbox_relay_kafka_commit_seconds_count" { cc = $2 }
       $1 == "outbox_relay_end_to_end_seconds_sum" { es = $2 }
       $1 == "outbox_relay_end_to_end_seconds_count" { ec = $2 }
       END { print t, cs, cc, es, ec }' <<<"$m"
}

cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# measure TAG RATE [VAR=VALUE...]: one relay at RATE; prints "received p50 p99 max
# relay_cpu_s walsender_cpu_s broker_cpu_s wall_s rss_kb transactions commit_ms e2e_ms".
measure() {
  local tag=$1 rate=$2 slot=bench_lat_${1}_${2}_$RUN topic=bench.latency.$1.$2.$RUN
  local n=$((rate * SECONDS_PER_RATE / CLIENTS * CLIENTS)) wal consumer t0 t1 c0 c1 w0 w1 b0 b1
  local addr m0 m1
  shift 2
  create_slot "$slot"
  relay_start etc/outbox-relay.conf "$WORK/$tag-$rate.log" "bench-lat-$tag-$rate-$RUN" "$slot" \
    "$topic" OUTBOX_RELAY_HTTP_LISTEN=127.0.0.1:0 "$@"
  # One row first: the topic exists and the relay is streaming before the clock starts.
  sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
          VALUES ('order', 'warm-up', 'OrderCreated', '{}')"
  wait_slot "$slot" "$(sql -c 'SELECT pg_current_wal_lsn()')" "$WORK/$tag-$rate.log"
  addr=$(sed -n 's/.* on \([0-9.]*:[0-9]*\)$/\1/p' "$WORK/$tag-$rate.log" | head -1)
  "$BUILD/latency_consume" "$KAFKA_BROKERS" "$topic" "$n" $((SECONDS_PER_RATE + 60)) \
    >"$WORK/$tag-$rate.lat" 2>"$WORK/$tag-$rate.consumer" &
  consumer=$!
  until grep -q ready "$WORK/$tag-$rate.consumer"; do
    kill -0 "$consumer" 2>/dev/null || { cat "$WORK/$tag-$rate.consumer" >&2; exit 1; }
    sleep 0.05
  done
  wal=$(sql -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$slot'")
  m0=$(window "$addr")
  t0=$(now) c0=$(cpu_of "$RELAY_PID") w0=$(cpu_of "$wal") b0=$(cpu_of "$BROKER_PID")
  pgbench -n -c "$CLIENTS" -j 2 -R "$rate" -t $((n / CLIENTS)) -f "$WORK/insert.sql" "$DBURL" \
    >"$WORK/$tag-$rate.pgbench" 2>&1 || { cat "$WORK/$tag-$rate.pgbench" >&2; exit 1; }
  wait "$consumer" || { cat "$WORK/$tag-$rate.consumer" >&2; exit 1; }
  t1=$(now) c1=$(cpu_of "$RELAY_PID") w1=$(cpu_of "$wal") b1=$(cpu_of "$BROKER_PID")
  m1=$(window "$addr")
  relay_alive "$WORK/$tag-$rate.log"
  echo "$(<"$WORK/$tag-$rate.lat") $(echo "$c1 - $c0" | bc) $(echo "$w1 - $w0" | bc)" \
    "$(echo "$b1 - $b0" | bc) $(echo "$t1 - $t0" | bc)" \
    "$(awk '/VmHWM/ { print $2 }' "/proc/$RELAY_PID/status")" \
    "$(awk '{ if (NR == 1) split($0, a); else printf "%d %.1f %.1f", $1 - a[1],
               ($2 - a[2]) * 1000 / ($3 - a[3]), ($4 - a[4]) * 1000 / ($5 - a[5]) }' \
        <(echo "$m0") <(echo "$m1") | tr '\n' ' ')"
  kill -TERM "$RELAY_PID"
  wait "$RELAY_PID"
}

printf '| %-8s | %9s | %7s | %6s | %6s | %6s | %9s | %12s | %9s | %9s | %6s | %8s | %7s | %9s | %12s |\n' \
  relay "rate tx/s" events "p50 ms" "p99 ms" "max ms" "relay CPU" "relay µs/evt" walsender \
  broker "RSS MB" "Kafka txns" "evt/txn" "commit ms" "to commit ms"
printf '|%s|\n' "----------|-----------|---------|--------|--------|--------|-----------|--------------|-----------|-----------|--------|----------|---------|-----------|--------------"
for rate in "${RATES[@]}"; do
  for tag in fixed adaptive; do
    extra=()
    [[ $tag == fixed ]] && extra=(OUTBOX_RELAY_BATCH_ADAPTIVE=false)
    read -r got p50 p99 max c w b wall rss txns commit_ms e2e_ms \
      < <(measure "$tag" "$rate" "${extra[@]}")
    cpct=$(echo "scale=1; $c * 100 / $wall" | bc)
    printf '| %-8s | %9d | %7d | %6d | %6d | %6d | %8.1f%% | %12.1f | %8.1f%% | %8.1f%% | %6.1f | %8d | %7.1f | %9s | %12s |\n' \
      "$tag" "$rate" "$got" "$p50" "$p99" "$max" "$cpct" "$(echo "scale=2; $c * 1000000 / $got" | bc)" \
      "$(echo "scale=1; $w * 100 / $wall" | bc)" "$(echo "scale=1; $b * 100 / $wall" | bc)" \
      "$(echo "scale=1; $rss / 1024" | bc)" "$txns" "$(echo "scale=1; $got / $txns" | bc)" \
      "$commit_ms" "$e2e_ms"
    last="latency p99_ms=$p99 cpu_pct=$cpct"
  done
done
echo "$last"
