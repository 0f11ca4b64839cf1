#!/usr/bin/env bash
# Another producer's open transaction on the checkpoint partition (here a stand-in for a
# backfill job killed mid transaction) must not hide the relay's newer checkpoints: the
# relay commits checkpoints behind it, is stopped and started again while it is still
# open, and resumes from its newest checkpoint (no refusal, exit 79; no duplicates)
# once the broker has aborted that transaction.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
insert() {
  sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
          SELECT 'order', 'agg-' || (g % 7), 'OrderCreated', jsonb_build_object('g', g)
          FROM generate_series(1, $1) g"
}

insert 50
relay_start # creates the checkpoint topic; the first checkpoint lands before the hold
wait_confirmed "$(current_lsn)"
hold_foreign_txn 8000
insert 50 # newer checkpoints, after the open transaction's record
wait_confirmed "$(current_lsn)"
relay_stop

relay_start
insert 50
wait_confirmed "$(current_lsn)" 60
relay_stop

consume "it.$ID.order" >"$WORK/records"
sql -c "SELECT id FROM outbox ORDER BY id" >"$WORK/expected"
exactly_once "restart behind an open transaction" "$WORK/records" "$WORK/expected" --per-key-order
grep -q 'waiting for an open transaction' "$WORK/relay.log" ||
  fail "the restart did not wait for the open transaction"
log "ok: resumed from the newest checkpoint after $(grep -o 'waiting for an open transaction.*' "$WORK/relay.log" | head -1)"
