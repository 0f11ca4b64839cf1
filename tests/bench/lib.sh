# shellcheck shell=bash
# The benchmarks' common start, sourced with BENCH (the run's name) set: the local servers
# up (deploy/local/up.sh), a RelWithDebInfo build in $BUILD (default build), a scratch
# directory $WORK, and the names of this run's database $DB (create_db) and slots
# (create_slot), all removed on exit. Relays are configured by environment overrides.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$ROOT"
BUILD=${BUILD:-build}
eval "$(deploy/local/up.sh)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
PG_BIN=/usr/lib/postgresql/15/bin
RUN=$$
DB=bench_${BENCH}_$RUN
DBURL=${PGURL%/*}/$DB
WORK=$(mktemp -d "/tmp/outbox-bench-$BENCH.XXXXXX")
SLOTS=()
# No HTTP endpoint unless a run asks for one (drain.sh's overhead run).
export OUTBOX_RELAY_HTTP_LISTEN=${OUTBOX_RELAY_HTTP_LISTEN-}

now() { date +%s.%N; }
log() { printf '[%s-bench %s] %s\n' "$BENCH" "$(date +%H:%M:%S)" "$*" >&2; }
sql() { psql -X -q -v ON_ERROR_STOP=1 -At "$DBURL" "$@"; }

# create_db [SQL FILE...]: the database $DB, with the files applied.
create_db() {
  local f
  psql -X -q -v ON_ERROR_STOP=1 "$PGURL" -c "CREATE DATABASE $DB"
  for f; do sql -f "$f" >/dev/null; done
}
# drop_db: this run's slots and $DB.
drop_db() {
  local slot
  for slot in "${SLOTS[@]}"; do
    psql -X -q "$PGURL" -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null 2>&1 || true
  done
  SLOTS=()
  psql -X -q "$PGURL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
bench_cleanup() {
  # shellcheck disable=SC2046 # one pid a word
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  drop_db
  rm -rf "$WORK"
}
trap bench_cleanup EXIT

# outbox_rows ROWS: $DB with the outbox and ROWS rows in it, ids 1..ROWS (the drain
# benchmark's rows: ~100-byte payloads over 10,000 aggregates, with a created_at), and the
# environment of a relay named bench-$BENCH-$RUN reading it.
outbox_rows() {
  create_db sql/01_outbox.sql
  log "writing $1 rows"
  sql -c "SET synchronous_commit = off" -c "
INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
SELECT 'order', 'order-' || (g % 10000), 'OrderCreated',
       jsonb_build_object('order_id', g, 'amount', 19.99, 'currency', 'EUR')
FROM generate_series(1, $1) g" -c "VACUUM ANALYZE outbox"
  export OUTBOX_RELAY_NAME=bench-$BENCH-$RUN OUTBOX_RELAY_POSTGRES_CONNINFO=$DBURL
  export OUTBOX_RELAY_KAFKA_BROKERS=$KAFKA_BROKERS OUTBOX_RELAY_LOG_LEVEL=info
}

# create_slot NAME: a pgoutput slot in $DB, dropped by drop_db.
create_slot() {
  SLOTS+=("$1")
  sql -c "SELECT pg_create_logical_replication_slot('$1', 'pgoutput')" >/dev/null
}

# write_backlog TXN INSERT: $ROWS rows written while nothing reads, in transactions of TXN
# rows, each the statement INSERT ... SELECT ... over row g = 1..TXN of transaction t = 0..
# (synchronous_commit off only for this writer: the WAL is the same, written faster).
write_backlog() {
  sql -c "SET synchronous_commit = off" -c "
DO \$\$
BEGIN
  FOR t IN 0..($ROWS / $1 - 1) LOOP
    $2
      FROM generate_series(1, $1) g;
    COMMIT;
  END LOOP;
END \$\$"
}

# recvlogical SLOT END: pg_recvlogical (pgoutput, proto 1) over SLOT up to END, to /dev/null.
recvlogical() {
  "$PG_BIN/pg_recvlogical" -d "$DBURL" --slot "$1" --start --endpos "$2" --no-loop \
    -o proto_version=1 -o publication_names=outbox_pub -f /dev/null
}

# relay_start CONF LOG NAME SLOT TOPIC [VAR=VALUE...]: `outbox-relay run` in the background
# on $DB's SLOT (standard error to LOG), pid in RELAY_PID.
relay_start() {
  local conf=$1 logf=$2 name=$3 slot=$4 topic=$5
  shift 5
  : >"$logf" # exists before the relay opens it, for a grep
  env OUTBOX_RELAY_NAME="$name" OUTBOX_RELAY_POSTGRES_CONNINFO="$DBURL" OUTBOX_RELAY_POSTGRES_SLOT="$slot" \
    OUTBOX_RELAY_KAFKA_BROKERS="$KAFKA_BROKERS" OUTBOX_RELAY_OUTBOX_TOPIC="$topic" \
    OUTBOX_RELAY_POSTGRES_STATUS_INTERVAL_MS=200 "$@" "$BUILD/outbox-relay" run -c "$conf" 2>"$logf" &
  RELAY_PID=$!
}

# relay_alive LOG: exits printing LOG unless the relay of relay_start still runs.
relay_alive() { kill -0 "$RELAY_PID" 2>/dev/null || { cat "$1" >&2; exit 1; }; }

# wait_slot SLOT END LOG [SECONDS]: polls (every SECONDS, default 0.02) until the relay
# confirmed SLOT at END.
wait_slot() {
  while [[ $(sql -c "SELECT confirmed_flush_lsn >= '$2' FROM pg_replication_slots WHERE slot_name = '$1'") != t ]]; do
    relay_alive "$3"
    sleep "${4:-0.02}"
  done
}
