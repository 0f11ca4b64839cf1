#!/usr/bin/env bash
# Backlog drain benchmark (DESIGN §8): ROWS outbox rows (default 1,000,000) written while
# nothing reads, in 1-row and in 1000-row transactions. Over the same WAL, two slots:
#   baseline  pg_recvlogical (pgoutput, proto 1) to /dev/null: the raw decode rate
#   relay     outbox-relay until the slot is confirmed at the end of the backlog
# A third slot is read first and not timed, so both timed runs find the WAL in the page
# cache (otherwise whichever runs first pays for the disk).
# Prints both rates, their ratio and the relay's peak RSS; the last line is
#   drain ratio=<worst ratio> rss_mb=<peak RSS>
# Targets: ratio >= 0.8, RSS <= 32 MB.  Usage: tests/bench/drain.sh [ROWS]
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$ROOT"
ROWS=${1:-1000000}
eval "$(deploy/local/up.sh)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
PG_BIN=/usr/lib/postgresql/15/bin
RUN=$$
WORK=$(mktemp -d /tmp/outbox-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

now() { date +%s.%N; }
log() { printf '[drain %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# scenario TXN_SIZE: prints "seconds_recvlogical seconds_relay peak_rss_kb"
scenario() {
  local size=$1 db=bench_${1}_$RUN slot_warm=bench_warm_${1}_$RUN slot_raw=bench_raw_${1}_$RUN
  local slot_relay=bench_relay_${1}_$RUN
  local dburl=${PGURL%/*}/$db
  sql() { psql -X -q -v ON_ERROR_STOP=1 -At "$dburl" "$@"; }

  psql -X -q "$PGURL" -c "CREATE DATABASE $db"
  sql -f sql/01_outbox.sql -f sql/02_publication.sql >/dev/null
  sql -c "SELECT pg_create_logical_replication_slot('$slot_warm', 'pgoutput')" \
    -c "SELECT pg_create_logical_replication_slot('$slot_raw', 'pgoutput')" \
    -c "SELECT pg_create_logical_replication_slot('$slot_relay', 'pgoutput')" >/dev/null
  log "writing $ROWS rows in $size-row transactions"
  # synchronous_commit=off only for the writer: the WAL is the same, written faster.
  sql -c "SET synchronous_commit = off" -c "
DO \$\$
BEGIN
  FOR t IN 0..($ROWS / $size - 1) LOOP
    INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
      SELECT 'order', 'order-' || ((t * $size + g) % 10000), 'OrderCreated',
             jsonb_build_object('order_id', t * $size + g, 'amount', 19.99, 'currency', 'EUR')
      FROM generate_series(1, $size) g;
    COMMIT;
  END LOOP;
END \$\$"
  local end t0 t1 t2 rss=0 pid
  end=$(sql -c "SELECT pg_current_wal_lsn()")

  recvlogical() {
    "$PG_BIN/pg_recvlogical" -d "$dburl" --slot "$1" --start --endpos "$end" --no-loop \
      -o proto_version=1 -o publication_names=outbox_pub -f /dev/null
  }
  log "warming the page cache (untimed pg_recvlogical)"
  recvlogical "$slot_warm"
  log "pg_recvlogical over the backlog"
  t0=$(now)
  recvlogical "$slot_raw"
  t1=$(now)

  log "outbox-relay over the same backlog"
  OUTBOX_RELAY_NAME=bench-$size-$RUN OUTBOX_RELAY_POSTGRES_CONNINFO=$dburl \
    OUTBOX_RELAY_POSTGRES_SLOT=$slot_relay OUTBOX_RELAY_KAFKA_BROKERS=$KAFKA_BROKERS \
    OUTBOX_RELAY_OUTBOX_TOPIC=bench.$size.$RUN OUTBOX_RELAY_POSTGRES_STATUS_INTERVAL_MS=200 \
    build/outbox-relay run -c etc/outbox-relay.conf 2>"$WORK/relay-$size.log" &
  pid=$!
  t2=$(now)
  while [[ $(sql -c "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = '$slot_relay'") != t ]]; do
    kill -0 "$pid" 2>/dev/null || { cat "$WORK/relay-$size.log" >&2; exit 1; }
    sleep 0.05
  done
  local t3
  t3=$(now)
  rss=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid"
  for slot in "$slot_warm" "$slot_raw" "$slot_relay"; do
    psql -X -q "$PGURL" -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null
  done
  psql -X -q "$PGURL" -c "DROP DATABASE $db WITH (FORCE)"
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t3 - $t2" | bc) $rss"
}

printf '%-18s %10s %14s %14s %14s %14s %7s %12s\n' "transactions" "rows" "recvlogical s" "recvlogical/s" "relay s" "relay/s" "ratio" "relay RSS MB"
worst=999 peak=0
for size in 1 1000; do
  read -r s_raw s_relay rss < <(scenario "$size")
  raw_rate=$(echo "$ROWS / $s_raw" | bc)
  relay_rate=$(echo "$ROWS / $s_relay" | bc)
  ratio=$(echo "scale=2; $relay_rate / $raw_rate" | bc)
  rss_mb=$(echo "scale=1; $rss / 1024" | bc)
  printf '%-18s %10d %14.2f %14d %14.2f %14d %7.2f %12.1f\n' "$size-row" "$ROWS" "$s_raw" "$raw_rate" "$s_relay" "$relay_rate" "$ratio" "$rss_mb"
  worst=$(echo "if ($ratio < $worst) $ratio else $worst" | bc)
  peak=$(echo "if ($rss_mb > $peak) $rss_mb else $peak" | bc)
done
echo "drain ratio=$worst rss_mb=$peak"
