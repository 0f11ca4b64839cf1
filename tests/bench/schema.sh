#!/usr/bin/env bash
# Schema-check cost benchmark (issue 4): events/s through the relay over the same backlog of
# the seed article's OrderCreated events (seed table, envelope, topic fixed), with schemas
# off and on (etc/schemas, schemas.applies_to = "value": the seed's draft-07 envelope
# schema). ROWS rows (default 200,000) in 1000-row transactions are written while nothing
# reads; each run then drains its own slot over that WAL. As in drain.sh a warm-up slot is
# read first (untimed), so every timed run finds the WAL in the page cache. Each mode runs
# RUNS times (default 5), alternating, and its median rate counts. A run is timed from the
# relay's "streaming from" line (connected, checkpoint read) to the slot confirmed at the
# end of the backlog, so start-up does not dilute the difference. The relay's CPU time per
# event (all its threads, start-up included) is printed too: it shows the cost of the check
# itself, while events/s also moves with the Postgres walsender and the Kafka broker that
# share the machine's cores. The last line is
#   schema ratio=<median events/s on / median events/s off>
# Target: ratio >= 0.9.  Usage: tests/bench/schema.sh [ROWS] [RUNS]
BENCH=schema
# shellcheck source=tests/bench/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
ROWS=${1:-200000}
RUNS=${2:-5}
TXN=1000

# shellcheck disable=SC2119 # no SQL file: the seed article's outbox table, as
# deploy/local/demo.sh creates it, follows.
create_db
sql -c "CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    aggregate_id VARCHAR(64) NOT NULL,
    event_type VARCHAR(64) NOT NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT NOW())"
sql -f sql/02_publication.sql >/dev/null
slot_names=(warm)
for ((r = 1; r <= RUNS; r++)); do slot_names+=("off$r" "on$r"); done
for name in "${slot_names[@]}"; do create_slot "bench_schema_${name}_$RUN"; done
log "writing $ROWS OrderCreated rows in $TXN-row transactions"
write_backlog "$TXN" "INSERT INTO outbox (aggregate_id, event_type, payload)
      SELECT (1000 + (t * $TXN + g) % 10000)::text, 'OrderCreated',
             jsonb_build_object('order_id', 1000 + t * $TXN + g, 'amount', 19.99)"
END_LSN=$(sql -c "SELECT pg_current_wal_lsn()")
log "warming the page cache (untimed pg_recvlogical)"
recvlogical "bench_schema_warm_$RUN" "$END_LSN"

# drain MODE SLOT: prints the seconds from "streaming from" to the slot confirmed at the end,
# and the relay's CPU seconds (user + system, all threads).
drain() {
  local mode=$1 slot=$2 logf=$WORK/relay-$2.log t0 t1 cpu
  local -a env=()
  [[ $mode == on ]] && env+=(OUTBOX_RELAY_SCHEMAS_DIR="$ROOT/etc/schemas"
    OUTBOX_RELAY_SCHEMAS_APPLIES_TO=value OUTBOX_RELAY_SCHEMAS_ON_INVALID=stop)
  relay_start etc/seed.conf "$logf" "bench-schema-$slot" "$slot" "bench.schema.$RUN" "${env[@]}"
  until grep -q 'streaming from' "$logf"; do
    relay_alive "$logf"
    sleep 0.01
  done
  t0=$(now)
  wait_slot "$slot" "$END_LSN" "$logf"
  t1=$(now)
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$RELAY_PID/stat")
  kill -TERM "$RELAY_PID"
  wait "$RELAY_PID" || { cat "$logf" >&2; exit 1; }
  grep -q "published $ROWS events" "$logf" || { log "$mode: not all $ROWS events published"; tail -3 "$logf" >&2; exit 1; }
  if [[ $mode == on ]]; then
    grep -q 'schemas: 3 from' "$logf" || { log "schemas were not on"; exit 1; }
  fi
  echo "$(echo "$t1 - $t0" | bc) $cpu"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-8s %4s %10s %10s %12s %16s\n' "schemas" "run" "rows" "seconds" "events/s" "relay CPU us/ev"
for ((r = 1; r <= RUNS; r++)); do
  for mode in off on; do
    read -r s cpu < <(drain "$mode" "bench_schema_${mode}${r}_$RUN")
    rate=$(echo "$ROWS / $s" | bc)
    us=$(echo "scale=2; $cpu * 1000000 / $ROWS" | bc)
    printf '%-8s %4d %10d %10.2f %12d %16.2f\n' "$mode" "$r" "$ROWS" "$s" "$rate" "$us"
    echo "$rate" >>"$WORK/rates-$mode"
    echo "$us" >>"$WORK/cpu-$mode"
  done
done
off=$(median <"$WORK/rates-off")
on=$(median <"$WORK/rates-on")
printf 'median: off %.0f events/s (%s us relay CPU/event), on %.0f events/s (%s us relay CPU/event)\n' \
  "$off" "$(median <"$WORK/cpu-off")" "$on" "$(median <"$WORK/cpu-on")"
echo "schema ratio=$(echo "scale=2; $on / $off" | bc)"
