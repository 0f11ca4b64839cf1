#!/usr/bin/env bash
# Every wait on Kafka keeps the replication connection alive. With wal_sender_timeout at
# 5 s, the broker is frozen (SIGSTOP) for 8 s just as a row needs a topic the relay has
# not used yet, so the relay waits on metadata, then on creating the topic: the same
# walsender serves the slot before and after (it did not time out), no transaction is
# given up, and the rows arrive exactly once.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
export OUTBOX_RELAY_POSTGRES_CONNINFO="$DBURL?options=-c%20wal_sender_timeout%3D5s"
export OUTBOX_RELAY_KAFKA_COMMIT_TIMEOUT_MS=30000
insert() { sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('$1', 'k', 'Created', '{}')"; }
walsender() { sql -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$SLOT'"; }
resume() { "$ROOT/deploy/local/kafka.sh" resume; }

relay_start
insert order
wait_confirmed "$(current_lsn)" 60
before=$(walsender)
"$ROOT/deploy/local/kafka.sh" pause
trap 'resume; cleanup' EXIT
insert invoice
sleep 8
resume
trap cleanup EXIT
insert invoice
wait_confirmed "$(current_lsn)" 60
after=$(walsender)
relay_stop

[[ -n $before && $before == "$after" ]] ||
  fail "the walsender changed from '$before' to '$after': the replication connection was lost"
grep -E 'given up|connection .* lost|stream .* ended' "$WORK/relay.log" &&
  fail "the relay gave up or lost its connection while Kafka was frozen"
for topic in order invoice; do read_committed "it.$ID.$topic" -f '%s\n' >>"$WORK/records"; done
n=$(wc -l <"$WORK/records")
((n == 3)) || fail "expected 3 records, read $n"
log "ok: broker frozen 8 s during metadata and topic creation; walsender $before kept; 3 records once"
