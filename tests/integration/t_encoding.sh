#!/usr/bin/env bash
# A database not in UTF-8 (LATIN1): every connection asks for client_encoding UTF8, so
# `run` and `backfill` publish UTF-8 ("Zürich" as C3 BC), in payload and envelope mode,
# with a non-ASCII key and event type; PGCLIENTENCODING in the environment changes nothing.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
conf=$ROOT/etc/outbox-relay.conf
usql() { PGCLIENTENCODING=UTF8 sql "$@"; } # this script is UTF-8
[[ $(sql -c "SHOW server_encoding") == LATIN1 ]] || fail "the database is not LATIN1"
usql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload, headers) VALUES
  ('order', 'Zürich-1', 'BestellungÄnderung', '{\"city\":\"Zürich\"}', '{\"ort\":\"Zürich\"}')"

# utf8_ok WHAT FILE: FILE holds "Zürich" as UTF-8 and no LATIN1 byte (0xFC) at all.
utf8_ok() {
  grep -q $'Z\xc3\xbcrich' "$2" || fail "$1: no UTF-8 Zürich in $(od -c "$2" | head -5)"
  iconv -f UTF-8 -t UTF-8 "$2" >/dev/null 2>&1 || fail "$1: not UTF-8: $(od -c "$2" | head -5)"
}

export PGCLIENTENCODING=LATIN1 # the relay's own setting must win over the environment
for mode in payload envelope; do
  log "run, outbox.value = $mode"
  export OUTBOX_RELAY_OUTBOX_VALUE=$mode OUTBOX_RELAY_OUTBOX_TOPIC=it.$ID.$mode OUTBOX_RELAY_NAME=relay-$ID-$mode
  sql -c "SELECT pg_drop_replication_slot('$SLOT')" >/dev/null
  sql -c "SELECT pg_create_logical_replication_slot('$SLOT', 'pgoutput')" >/dev/null
  usql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload, headers) VALUES
    ('order', 'Zürich-2', 'BestellungÄnderung', '{\"city\":\"Zürich\"}', '{\"ort\":\"Zürich\"}')"
  relay_start
  wait_confirmed "$(current_lsn)" 60
  relay_stop
  grep -q ' error ' "$WORK/relay.log" && fail "run ($mode) logged an error"
  read_committed "it.$ID.$mode" -f '%k\t%h\t%s\n' >"$WORK/run.$mode"  || fail "run ($mode): nothing in it.$ID.$mode: $(tail -2 "$WORK/relay.log")"
  [[ $(wc -l <"$WORK/run.$mode") == 1 ]] || fail "run ($mode): $(cat "$WORK/run.$mode")"
  utf8_ok "run ($mode)" "$WORK/run.$mode"
  grep -q $'^Z\xc3\xbcrich-2\t' "$WORK/run.$mode" || fail "run ($mode): key not UTF-8"
  grep -q $'Bestellung\xc3\x84nderung' "$WORK/run.$mode" || fail "run ($mode): event type not UTF-8"
  grep -q $'ort=Z\xc3\xbcrich' "$WORK/run.$mode" || fail "run ($mode): header not UTF-8"

  log "backfill, outbox.value = $mode"
  "$RELAY_BIN" backfill -c "$conf" --job "enc-$mode" --from-id 1 --to-id 1 --topic "it.$ID.bf.$mode" \
    >"$WORK/bf.log" 2>&1 || fail "backfill exited $?: $(tail -3 "$WORK/bf.log")"
  read_committed "it.$ID.bf.$mode" -f '%k\t%h\t%s\n' >"$WORK/bf.$mode"
  [[ $(wc -l <"$WORK/bf.$mode") == 1 ]] || fail "backfill ($mode): $(cat "$WORK/bf.$mode")"
  utf8_ok "backfill ($mode)" "$WORK/bf.$mode"
  grep -q $'^Z\xc3\xbcrich-1\t' "$WORK/bf.$mode" || fail "backfill ($mode): key not UTF-8"
done

log "check passes on the LATIN1 database"
"$RELAY_BIN" check -c "$conf" >"$WORK/check.log" 2>&1 || fail "check: $(cat "$WORK/check.log")"
log "ok: run and backfill publish UTF-8 from a LATIN1 database"
