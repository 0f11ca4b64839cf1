#!/usr/bin/env bash
# backfill keeps its Kafka transactions within batch.linger_ms when a page query is slow:
# the outbox is read through a view that sleeps 2 ms a row (a page of 1,000 rows then takes
# 2 s to read), with batch.linger_ms = 300. The transaction open when a page query starts is
# committed while the query runs, as soon as it is due; every transaction stays short; the
# 2,500 rows arrive exactly once.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
SELECT 'order', 'agg-' || (g % 17), 'OrderCreated', jsonb_build_object('n', g)
FROM generate_series(1, 2500) g"
sql -c "CREATE VIEW outbox_slow AS SELECT * FROM outbox WHERE pg_sleep(0.002) IS NOT NULL"
sql -c "GRANT SELECT ON outbox_slow TO outbox_relay"
export OUTBOX_RELAY_OUTBOX_TABLE=outbox_slow OUTBOX_RELAY_BATCH_LINGER_MS=300

start=$SECONDS
"$RELAY_BIN" backfill -c "$ROOT/etc/outbox-relay.conf" --job slow --topic "it.$ID.replay" \
  >"$WORK/relay.log" 2>&1 || fail "backfill exited $?"
took=$((SECONDS - start))
grep -q "job slow finished: published 2500 events" "$WORK/relay.log" || fail "no summary"
ages=$(sed -n 's/.*committed Kafka transaction: .* open \([0-9]*\) ms$/\1/p' "$WORK/relay.log")
n=$(wc -w <<<"$ages")
max=$(tr ' ' '\n' <<<"$ages" | sort -n | tail -1)
log "$n transactions in $took s; the longest open $max ms (batch.linger_ms 300)"
((took >= 8 && n >= 3)) || fail "the page queries were not slow ($took s, $n transactions)"
((max < 1000)) || fail "a transaction stayed open $max ms across a slow page query"

consume "it.$ID.replay" >"$WORK/records"
exactly_once "2500 rows through the slow view" "$WORK/records" <(seq 1 2500)
log "ok: transactions at most $max ms while page queries took seconds; 2500 records once"
