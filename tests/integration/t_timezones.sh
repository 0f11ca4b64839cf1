#!/usr/bin/env bash
# A created_at of type timestamp (without time zone), as in the seed article's table, holds
# the writers' local time. Its record timestamp must be the true instant: read in the
# database's TimeZone by default (writers in Asia/Tokyo), or in outbox.timestamp_zone
# (writers in America/Los_Angeles), by `run` and by `backfill` alike.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
sql -c "ALTER TABLE outbox ALTER COLUMN created_at TYPE timestamp"
psql -X -q "$PGURL" -c "ALTER DATABASE $DB SET timezone = 'Asia/Tokyo'"
TOPIC=it.$ID.order

# write ZONE TYPE N: N rows of event type TYPE from a writer session in ZONE (created_at
# defaults to now(), its local time there).
write() {
  sql -c "SET TimeZone = '$1'; INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
          SELECT 'order', 'k' || g, '$2', '{}' FROM generate_series(1, $3) g"
}
# expected ZONE TYPE: "event_id<TAB>instant in ms" of the rows of TYPE, written in ZONE.
expected() {
  sql -c "SELECT id || E'\t' || floor(extract(epoch FROM created_at AT TIME ZONE '$1') * 1000)::bigint
          FROM outbox WHERE event_type = '$2' ORDER BY id"
}
# got TOPIC TYPE: "event_id<TAB>record timestamp" of the records of TYPE.
got() {
  read_committed "$1" -f '%h\t%T\n' | grep "event_type=$2" |
    sed -E 's/.*event_id=([0-9]+).*\t([0-9]+)$/\1\t\2/' | sort -n
}
same() { # same LABEL EXPECTED GOT
  diff <(echo "$2") <(echo "$3") >"$WORK/diff" || fail "$1: record timestamps differ from the true instants: $(head -4 "$WORK/diff")"
  log "ok: $1: $(wc -l <<<"$3") records at their true instants"
}

relay_start
write Asia/Tokyo Tokyo 20
wait_confirmed "$(current_lsn)" 60
relay_stop
grep -q 'a created_at without a time zone is read in Asia/Tokyo (the database' "$WORK/relay.log" ||
  fail "the relay did not say which zone it reads created_at in"
same "run, the database's TimeZone (Asia/Tokyo)" "$(expected Asia/Tokyo Tokyo)" "$(got "$TOPIC" Tokyo)"

export OUTBOX_RELAY_OUTBOX_TIMESTAMP_ZONE=America/Los_Angeles
relay_start
write America/Los_Angeles LosAngeles 20
wait_confirmed "$(current_lsn)" 60
relay_stop
same "run, outbox.timestamp_zone = America/Los_Angeles" "$(expected America/Los_Angeles LosAngeles)" \
  "$(got "$TOPIC" LosAngeles)"

unset OUTBOX_RELAY_OUTBOX_TIMESTAMP_ZONE
"$RELAY_BIN" backfill -c "$ROOT/etc/outbox-relay.conf" --job tokyo --event-type Tokyo --topic "it.$ID.replay" \
  >"$WORK/backfill.log" 2>&1 || fail "backfill exited $?: $(tail -2 "$WORK/backfill.log")"
same "backfill, the database's TimeZone" "$(expected Asia/Tokyo Tokyo)" "$(got "it.$ID.replay" Tokyo)"

OUTBOX_RELAY_OUTBOX_TIMESTAMP_ZONE=Mars/Olympus_Mons "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" \
  >"$WORK/bad.log" 2>&1 && fail "an unknown zone was accepted"
grep -q 'time zone "Mars/Olympus_Mons" for created_at is not in' "$WORK/bad.log" ||
  fail "no clear line for an unknown zone: $(tail -1 "$WORK/bad.log")"
log "ok: an unknown zone stops the start with one line"
