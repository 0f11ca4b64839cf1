#!/usr/bin/env bash
# The seed article's order-service demo, end to end on real servers:
#   an order service writes an order row and its outbox row (OrderCreated, OrderPaid,
#   OrderShipped) in one Postgres transaction; outbox-relay publishes them to topic
#   `orders` (created first, with kafka.topic_partitions partitions) in envelope form, each
#   checked against its schema in etc/schemas; the seed article's own Python consumers
#   (deploy/local/consumers/, kafka-python from PyPI in a venv under .local/tools/, with
#   isolation_level="read_committed") handle every order once as analytics-group and
#   inventory-group, though the relay is killed with kill -9 mid-stream and restarted. One
#   buggy event fails its schema and lands in the dead-letter topic instead. Starts what it
#   needs, ends by itself, prints a summary.
# --messages: the same with a logical-message outbox (etc/messages.conf): no outbox table; the
#   order service emits each event with pg_logical_emit_message in its transaction.
set -euo pipefail
MESSAGES=0
case ${1:-} in
  "") ;;
  --messages) MESSAGES=1 ;;
  *) echo "usage: deploy/local/demo.sh [--messages]" >&2; exit 64 ;;
esac

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$ROOT"
say() { printf '\033[1m== %s\033[0m\n' "$*"; }

say "starting Postgres and Kafka (deploy/local/up.sh)"
eval "$(deploy/local/up.sh)"

# Always (incremental): a binary left from older sources would not know newer settings.
say "building outbox-relay"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null

DB=orders_demo
DBURL=${PGURL%/*}/$DB
SLOT=orders_demo
NAME=orders-demo-relay
TOPIC=orders
DEAD=orders.dead-letter
PARTITIONS=3 # kafka.topic_partitions of the relay below, and of the topic made first
KAFKA_PYTHON_VERSION=3.0.12
VENV=$ROOT/.local/tools/kafka-python-$KAFKA_PYTHON_VERSION
WORK=$(mktemp -d /tmp/outbox-demo.XXXXXX)
RELAY_PID=
consumers=()
cleanup() {
  local rc=$?
  kill $RELAY_PID "${consumers[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  if ((rc == 0)); then rm -rf "$WORK"; else echo "logs kept in $WORK" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
sql() { psql -X -q -v ON_ERROR_STOP=1 -At "$DBURL" "$@"; }

say "a fresh database '$DB' with the seed article's tables, the publication and a slot"
psql -X -q "$PGURL" -c "SELECT pg_drop_replication_slot('$SLOT') FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null
psql -X -q "$PGURL" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
sql <<'SQL'
CREATE TABLE orders (
    order_id   bigint PRIMARY KEY,
    amount     numeric(10, 2) NOT NULL,
    status     text NOT NULL
);
SQL
if ((MESSAGES)); then
  # No outbox table: pgoutput needs a publication by name, and it may publish no table.
  sql -c "CREATE PUBLICATION outbox_pub"
  CONF=etc/messages.conf
else
  # The seed article's outbox table, exactly.
  sql -c "CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    aggregate_id VARCHAR(64) NOT NULL,
    event_type VARCHAR(64) NOT NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT NOW()
  )"
  sql -f sql/02_publication.sql
  CONF=etc/seed.conf
fi
# outbox_event AGGREGATE_ID EVENT_TYPE PAYLOAD [ID]: the statement that writes one event in the
# order service's transaction: the outbox row, or with --messages the logical message (PAYLOAD
# is a jsonb expression; ID, the event id, only for a message: a row gets its id from the table).
# The SELECT of a message prints its LSN: the writes below send psql's output to /dev/null.
outbox_event() {
  if ((MESSAGES)); then
    echo "SELECT pg_logical_emit_message(true, 'outbox', jsonb_build_object('aggregate_id', '$1',
      'event_type', '$2', 'payload', $3${4:+, 'id', '$4'})::text);"
  else
    echo "INSERT INTO outbox (aggregate_id, event_type, payload) VALUES ('$1', '$2', $3);"
  fi
}
sql -c "SELECT pg_create_logical_replication_slot('$SLOT', 'pgoutput')" >/dev/null
# A new slot means a new stream: clear this relay's checkpoint from an earlier run (a
# tombstone), or the relay would rightly refuse to guess.
# Only when the topic exists: producing to a missing one would make the broker create it
# uncompacted, where the relay creates it compacted.
topics() { kcat -b "$KAFKA_BROKERS" -L -J 2>/dev/null | jq -r '.topics[].topic'; }
if topics | grep -x outbox-relay.checkpoints >/dev/null; then
  printf '%s:\n' "$NAME" | kcat -b "$KAFKA_BROKERS" -P -t outbox-relay.checkpoints -K: -Z -p 0
fi

# A consumer subscribing to a missing topic makes the broker create it with its own
# num.partitions (1 here), and kafka.topic_partitions would then not apply: topics first.
say "topic '$TOPIC' first, with $PARTITIONS partitions (deploy/local/kafka.sh topics, i.e. kafka-topics.sh)"
deploy/local/kafka.sh topics --create --if-not-exists --topic "$TOPIC" --partitions "$PARTITIONS" \
  --replication-factor 1 >/dev/null

if [[ ! -f $VENV/.installed ]]; then
  say "installing kafka-python $KAFKA_PYTHON_VERSION from PyPI into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "kafka-python==$KAFKA_PYTHON_VERSION"
  touch "$VENV/.installed"
fi
say "the seed article's consumers subscribe: analytics-group and inventory-group (read_committed)"
for c in analytics inventory; do
  PYTHONUNBUFFERED=1 "$VENV/bin/python" "deploy/local/consumers/$c.py" >"$WORK/$c.out" 2>"$WORK/$c.err" &
  consumers+=($!)
done

say "the event schemas: outbox-relay schema check etc/schemas"
build/outbox-relay schema check etc/schemas
# What a producer's CI would run on a sample event before shipping.
echo '{"event_id": "1", "type": "OrderCreated", "payload": {"order_id": 1001, "amount": 99.50}}' |
  build/outbox-relay schema validate etc/schemas/OrderCreated.json -

relay_run() { # relay_run [ENV=VALUE...]
  env "$@" OUTBOX_RELAY_NAME=$NAME OUTBOX_RELAY_POSTGRES_CONNINFO=$DBURL OUTBOX_RELAY_POSTGRES_SLOT=$SLOT \
    OUTBOX_RELAY_KAFKA_BROKERS=$KAFKA_BROKERS OUTBOX_RELAY_POSTGRES_STATUS_INTERVAL_MS=1000 \
    OUTBOX_RELAY_KAFKA_TOPIC_PARTITIONS=$PARTITIONS \
    OUTBOX_RELAY_SCHEMAS_DIR=etc/schemas OUTBOX_RELAY_SCHEMAS_APPLIES_TO=value \
    OUTBOX_RELAY_DEAD_LETTER_TOPIC=$DEAD OUTBOX_RELAY_HTTP_LISTEN=127.0.0.1:0 \
    build/outbox-relay run -c "$CONF" 2>>"$WORK/relay.log" &
  RELAY_PID=$!
}
count() { kcat -b "$KAFKA_BROKERS" -C -t "$TOPIC" -o beginning -e -q -X "isolation.level=$1" -f '%s\n' | grep -c '"type"' || true; }
# Records of aborted Kafka transactions: what a consumer without read_committed also reads.
aborted_records() { echo $(($(count read_uncommitted) - $(count read_committed))); }
aborted_before=$(aborted_records)
say "outbox-relay run -c $CONF (topic '$TOPIC', envelope, schemas on, dead letters to '$DEAD')"
# The first relay holds each Kafka transaction open for 1 s (batch.adaptive off,
# batch.linger_ms), so that the kill -9 below finds records in an open one.
relay_run OUTBOX_RELAY_BATCH_ADAPTIVE=false OUTBOX_RELAY_BATCH_LINGER_MS=1000

ORDERS=20
EXPECTED=$((ORDERS * 2 + ORDERS / 2)) # created + paid for each, shipped for every second
# This run's order ids: the groups keep their offsets from earlier runs, whose orders had
# other ids.
BASE=$(($(date +%s) % 100000 * 1000))
written=0

say "order service: $ORDERS orders, each state change and its event in one transaction"
for ((i = 1; i <= ORDERS; i++)); do
  id=$((BASE + i))
  if ((i == ORDERS / 2 + 1)); then
    say "kill -9 the relay mid-stream, start it again (what it had not committed is aborted, then replayed)"
    sleep 0.3 # the relay produces the rows just written
    kill -9 "$RELAY_PID"
    wait "$RELAY_PID" 2>/dev/null || true
    relay_run
  fi
  amount="$((i * 7 % 90 + 10)).50"
  sql -c "BEGIN;
    INSERT INTO orders VALUES ($id, $amount, 'created');
    $(outbox_event "$id" OrderCreated "jsonb_build_object('order_id', $id, 'amount', $amount)")
    COMMIT;" >/dev/null
  sql -c "BEGIN;
    UPDATE orders SET status = 'paid' WHERE order_id = $id;
    $(outbox_event "$id" OrderPaid "jsonb_build_object('order_id', $id, 'amount', $amount)")
    COMMIT;" >/dev/null
  written=$((written + 2))
  if ((i % 2 == 0)); then
    sql -c "BEGIN;
      UPDATE orders SET status = 'shipped' WHERE order_id = $id;
      $(outbox_event "$id" OrderShipped "jsonb_build_object('order_id', $id, 'carrier', 'DHL')")
      COMMIT;" >/dev/null
    written=$((written + 1))
  fi
done
# A buggy client writes the amount as text: the event fails OrderCreated.json and goes to the
# dead-letter topic, in the same Kafka transaction as its neighbours; consumers never see it.
# (demo_run tells this run's dead letter from earlier runs': the topic keeps them all.)
run_mark=$(date +%s%N)
invalid_id=invalid-$run_mark # a message names its event; a row's id is the table's
sql -c "BEGIN;
  INSERT INTO orders VALUES ($((BASE + 999)), 5.00, 'created');
  $(outbox_event $((BASE + 999)) OrderCreated "'{\"order_id\": $((BASE + 999)), \"amount\": \"5.00 EUR\", \"demo_run\": \"$run_mark\"}'::jsonb" "$invalid_id")
  COMMIT;" >/dev/null
written=$((written + 1))
((MESSAGES)) || invalid_id=$(sql -c "SELECT max(id) FROM outbox")
# A failed checkout: rolled back, so neither the order nor its event exists.
sql -c "BEGIN;
  INSERT INTO orders VALUES ($((BASE + 998)), 1.00, 'created');
  $(outbox_event $((BASE + 998)) OrderCreated "'{\"order_id\": $((BASE + 998))}'::jsonb")
  ROLLBACK;" >/dev/null
# Rows are counted in the table; messages leave nothing to count but what was committed.
((MESSAGES)) || written=$(sql -c "SELECT count(*) FROM outbox")

# mine GROUP: the lines the group's consumer printed for the orders of this run.
mine() {
  awk -v lo="$BASE" -v hi="$((BASE + ORDERS))" \
    'match($0, /[Oo]rder [0-9]+/) { id = substr($0, RSTART + 6, RLENGTH - 6) + 0; if (id > lo && id <= hi) print }' "$WORK/$1.out"
}
# seen GROUP: the order ids of this run that the group's consumer handled, one a line.
seen() { mine "$1" | grep -oE '[Oo]rder [0-9]+' | cut -d' ' -f2; }
say "waiting for both consumer groups"
deadline=$((SECONDS + 120))
for c in analytics inventory; do
  until (($(seen "$c" | sort -u | wc -l) == ORDERS)); do
    if ((SECONDS > deadline)) || ! kill -0 "${consumers[0]}" "${consumers[1]}" 2>/dev/null; then
      echo "demo FAILED: the $c consumer did not handle the $ORDERS orders:"
      cat "$WORK"/*.err "$WORK/$c.out"
      exit 1
    fi
    sleep 0.2
  done
done
end=$(sql -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 100); do
  [[ $(sql -c "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = '$SLOT'") == t ]] && break
  sleep 0.1
done
# What Prometheus would scrape (http.listen; a free port here, :9490 by default).
addr=$(sed -n 's/.*http: .* on \([^ ]*\)$/\1/p' "$WORK/relay.log" | tail -1)
metrics=$(curl -s --max-time 5 "http://$addr/metrics" | grep -E '^outbox_relay_(events_published_total|dead_letters_total\{reason="invalid"\}|state\{state="streaming"\}|lag_seconds) ' || true)
kill -TERM "$RELAY_PID" 2>/dev/null || true
wait "$RELAY_PID" || { echo "relay exited with an error:"; cat "$WORK/relay.log"; exit 1; }
RELAY_PID=

published=$(count read_committed)
aborted=$(($(aborted_records) - aborted_before))
# This run's dead letter (the topic keeps earlier runs'): its reason headers.
dead=$(kcat -b "$KAFKA_BROKERS" -C -t "$DEAD" -o beginning -e -q -X isolation.level=read_committed -J |
  jq -r --arg id "$invalid_id" --arg run "$run_mark" 'select(try ((.payload | fromjson).payload.demo_run == $run) catch false)
    | (.headers // []) as $h | [range(0; $h | length; 2) | {key: $h[.], value: $h[. + 1]}] | from_entries
    | select(.event_id == $id) | "\(.dead_letter_reason): \(.dead_letter_error) (\(.dead_letter_schema))"')
lag=$(sql -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name = '$SLOT'")
# Each order once: a repeat (an aborted transaction's record read) comes before the
# committed copy of the same key, so it would be printed by now.
analytics=$(seen analytics | wc -l)
inventory=$(seen inventory | wc -l)

say "what the seed's consumers printed (first 3 of each)"
mine analytics | head -3
mine inventory | head -3
say "what reached '$DEAD'"
grep 'dead-lettered event' "$WORK/relay.log" | sed 's/^[^ ]* warn /  /'
printf '  event %s: %s\n' "$invalid_id" "${dead:-(none)}"
say "the relay's /metrics on $addr (a few lines)"
sed 's/^/  /' <<<"$metrics"
say "summary"
printf '  %-40s %s\n' \
  "events written ($( ((MESSAGES)) && echo messages || echo outbox rows))" "$written" \
  "records in topic '$TOPIC' (all runs)" "$published" \
  "records of aborted transactions (this run)" "$aborted" \
  "orders handled by analytics-group" "$analytics" \
  "orders handled by inventory-group" "$inventory" \
  "dead-lettered to '$DEAD' (this run)" "$(grep -c . <<<"$dead")" \
  "slot lag after stop (bytes)" "$lag" \
  "relay" "$(grep -o 'published [0-9]* events.*transactions (' "$WORK/relay.log" | tail -1 | sed 's/ (//')"
if ((analytics != ORDERS || inventory != ORDERS || written != EXPECTED + 1)) ||
  [[ $dead != "invalid: /payload/amount: type: expected number, got string (OrderCreated.json)" ]]; then
  echo "demo FAILED: expected each of the $ORDERS orders once in each group and event $invalid_id dead-lettered"
  cat "$WORK"/*.err "$WORK/relay.log"
  exit 1
fi
echo "demo OK: $EXPECTED events published from Postgres transactions (the relay killed once mid-stream); the seed's consumers (read_committed) handled each of the $ORDERS orders once in both groups; 1 invalid event in $DEAD"
