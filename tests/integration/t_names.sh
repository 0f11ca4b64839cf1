#!/usr/bin/env bash
# Names: a publication named with a quote, double quotes, a comma, a space and capitals
# streams (START_REPLICATION quotes it as an identifier inside a literal); `check` and
# `backfill` use transactional ids no relay can have ('/' is not allowed in names), so
# they do not fence a running relay named "<name>.check" or "<name>.backfill.<job>".
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
conf=$ROOT/etc/outbox-relay.conf
pub=$'it\'s "odd", Pub'
sql -c "CREATE PUBLICATION \"it's \"\"odd\"\", Pub\" FOR TABLE outbox WITH (publish = 'insert')"
export OUTBOX_RELAY_POSTGRES_PUBLICATION=$pub OUTBOX_RELAY_OUTBOX_TOPIC=it.$ID.events
base=$OUTBOX_RELAY_NAME
insert() { sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'k', 'OrderCreated', '{\"n\": $1}')"; }

# still_publishing N: the running relay publishes row N (a fenced one would stop).
still_publishing() {
  insert "$1"
  wait_confirmed "$(current_lsn)" 60
  kill -0 "$RELAY_PID" 2>/dev/null || fail "the relay stopped"
  consume "it.$ID.events" | grep -q "\"n\": $1}" || fail "row $1 not published"
}

log "run as $base.check with publication [$pub]; check of $base beside it"
export OUTBOX_RELAY_NAME=$base.check
relay_start
still_publishing 1
OUTBOX_RELAY_NAME=$base "$RELAY_BIN" check -c "$conf" >"$WORK/check.log" 2>&1 || true
grep -q '^OK   kafka' "$WORK/check.log" || fail "check: kafka not OK: $(cat "$WORK/check.log")"
still_publishing 2
relay_stop

log "run as $base.backfill.j1; backfill --job j1 of $base beside it"
export OUTBOX_RELAY_NAME=$base.backfill.j1
relay_start
still_publishing 3
OUTBOX_RELAY_NAME=$base "$RELAY_BIN" backfill -c "$conf" --job j1 --from-id 1 --to-id 1 \
  --topic "it.$ID.replay" >"$WORK/bf.log" 2>&1 || fail "backfill exited $?: $(tail -3 "$WORK/bf.log")"
still_publishing 4
relay_stop

log "check of $base: the publication is OK"
OUTBOX_RELAY_NAME=$base "$RELAY_BIN" check -c "$conf" >"$WORK/check.log" 2>&1 || true
grep -q '^OK   publication' "$WORK/check.log" || fail "check: $(cat "$WORK/check.log")"
log "ok: a publication name with quotes streams; check and backfill fence no relay"
