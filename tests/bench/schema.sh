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
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$ROOT"
ROWS=${1:-200000}
RUNS=${2:-5}
TXN=1000
eval "$(deploy/local/up.sh)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
PG_BIN=/usr/lib/postgresql/15/bin
RUN=$$
DB=bench_schema_$RUN
DBURL=${PGURL%/*}/$DB
WORK=$(mktemp -d /tmp/outbox-bench-schema.XXXXXX)
SLOTS=()
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  for slot in "${SLOTS[@]}"; do
    psql -X -q "$PGURL" -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null 2>&1 || true
  done
  psql -X -q "$PGURL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
log() { printf '[schema-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
sql() { psql -X -q -v ON_ERROR_STOP=1 -At "$DBURL" "$@"; }

psql -X -q "$PGURL" -c "CREATE DATABASE $DB"
# The seed article's outbox table, as deploy/local/demo.sh creates it.
sql -c "CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    aggregate_id VARCHAR(64) NOT NULL,
    event_type VARCHAR(64) NOT NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT NOW())"
sql -f sql/02_publication.sql >/dev/null
slot_names=(warm)
for ((r = 1; r <= RUNS; r++)); do slot_names+=("off$r" "on$r"); done
for name in "${slot_names[@]}"; do
  SLOTS+=("bench_schema_${name}_$RUN")
  sql -c "SELECT pg_create_logical_replication_slot('bench_schema_${name}_$RUN', 'pgoutput')" >/dev/null
done
log "writing $ROWS OrderCreated rows in $TXN-row transactions"
sql -c "SET synchronous_commit = off" -c "
DO \$\$
BEGIN
  FOR t IN 0..($ROWS / $TXN - 1) LOOP
    INSERT INTO outbox (aggregate_id, event_type, payload)
      SELECT (1000 + (t * $TXN + g) % 10000)::text, 'OrderCreated',
             jsonb_build_object('order_id', 1000 + t * $TXN + g, 'amount', 19.99)
      FROM generate_series(1, $TXN) g;
    COMMIT;
  END LOOP;
END \$\$"
END_LSN=$(sql -c "SELECT pg_current_wal_lsn()")
log "warming the page cache (untimed pg_recvlogical)"
"$PG_BIN/pg_recvlogical" -d "$DBURL" --slot "bench_schema_warm_$RUN" --start --endpos "$END_LSN" \
  --no-loop -o proto_version=1 -o publication_names=outbox_pub -f /dev/null

# drain MODE SLOT: prints the seconds from "streaming from" to the slot confirmed at the end,
# and the relay's CPU seconds (user + system, all threads).
drain() {
  local mode=$1 slot=$2 logf=$WORK/relay-$2.log pid t0 t1 cpu
  local -a env=(OUTBOX_RELAY_NAME="bench-schema-$slot" OUTBOX_RELAY_POSTGRES_CONNINFO="$DBURL"
    OUTBOX_RELAY_POSTGRES_SLOT="$slot" OUTBOX_RELAY_KAFKA_BROKERS="$KAFKA_BROKERS"
    OUTBOX_RELAY_OUTBOX_TOPIC="bench.schema.$RUN" OUTBOX_RELAY_POSTGRES_STATUS_INTERVAL_MS=200)
  [[ $mode == on ]] && env+=(OUTBOX_RELAY_SCHEMAS_DIR="$ROOT/etc/schemas"
    OUTBOX_RELAY_SCHEMAS_APPLIES_TO=value OUTBOX_RELAY_SCHEMAS_ON_INVALID=stop)
: >"$logf" # exists before the relay opens it, for the grep below
  env "${env[@]}" build/outbox-relay run -c etc/seed.conf 2>"$logf" &
  pid=$!
  until grep -q 'streaming from' "$logf"; do
    kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; exit 1; }
    sleep 0.01
  done
  t0=$(now)
  while [[ $(sql -c "SELECT confirmed_flush_lsn >= '$END_LSN' FROM pg_replication_slots WHERE slot_name = '$slot'") != t ]]; do
    kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; exit 1; }
    sleep 0.02
  done
  t1=$(now)
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$pid/stat")
  kill -TERM "$pid"
  wait "$pid" || { cat "$logf" >&2; exit 1; }
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
