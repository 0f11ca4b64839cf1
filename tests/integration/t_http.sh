#!/usr/bin/env bash
# The HTTP endpoint (relay/http.c): /metrics, /healthz and /readyz answer as the README says;
# clients that hold every connection with half a request (slowloris) or send a huge header
# cannot stall streaming, and their connections are dropped after the timeout; an address
# in use, or one that does not parse, stops the start with exit 78 and one line; backfill
# --http-listen serves the job's progress.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

setup_db
insert() { sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) SELECT 'order', 'k' || g, 'OrderCreated', '{}' FROM generate_series(1, $1) g"; }
metric() { curl -s --max-time 5 "http://$addr/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

export OUTBOX_RELAY_HTTP_LISTEN=127.0.0.1:0
relay_start
addr=$(http_address "$WORK/relay.log")
wait_http "http://$addr/readyz" 200
[[ $(curl -s "http://$addr/readyz") == streaming ]] || fail "/readyz body is not 'streaming'"
[[ $(curl -s "http://$addr/healthz") == ok ]] || fail "/healthz body is not 'ok'"
[[ $(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$addr/metrics") == 405 ]] || fail "POST /metrics is not 405"
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://$addr/") == 404 ]] || fail "/ is not 404"
insert 100
wait_confirmed "$(current_lsn)" 30
[[ $(metric outbox_relay_events_published_total) == 100 ]] || fail "events_published_total is $(metric outbox_relay_events_published_total), not 100"

# A header larger than a connection's memory (32 KiB) is refused, and nothing else happens.
big=$(head -c 65536 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "http://$addr/metrics" || true)
[[ $code == 431 || $code == 413 || $code == 000 ]] || fail "a 64 KiB header got $code"
log "a 64 KiB header: HTTP $code"

# More connections than the limit (32), each with half a request, held open.
trap "" PIPE # the server may close an over-limit connection before we write
fds=()
for _ in {1..40}; do
  exec {fd}<>"/dev/tcp/${addr%:*}/${addr##*:}" || continue
  printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ' >&"$fd" 2>/dev/null || true
  fds+=("$fd")
done
log "holding ${#fds[@]} half-sent requests"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$addr/healthz" || true)
[[ $code == 000 ]] || fail "a 41st connection got HTTP $code: the connection limit does not hold"
t0=$SECONDS
insert 200
wait_confirmed "$(current_lsn)" 10
log "200 more events confirmed in $((SECONDS - t0)) s while the HTTP connections are held"
# The server drops them after its 10 s timeout without any help from us.
wait_http "http://$addr/healthz" 200 20
log "/healthz answers again after $((SECONDS - t0)) s"
for fd in "${fds[@]}"; do exec {fd}>&-; done
[[ $(metric outbox_relay_events_published_total) == 300 ]] || fail "events_published_total is $(metric outbox_relay_events_published_total), not 300"

# The same address again: one line and exit 78, before touching the slot.
rc=0
OUTBOX_RELAY_HTTP_LISTEN=$addr timeout 20 "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >"$WORK/second.log" 2>&1 || rc=$?
((rc == 78)) || fail "a relay on a port in use exited $rc, not 78: $(cat "$WORK/second.log")"
grep -q "http.listen \"$addr\": cannot listen: Address already in use" "$WORK/second.log" || fail "no clear line: $(cat "$WORK/second.log")"
rc=0
OUTBOX_RELAY_HTTP_LISTEN=localhost timeout 20 "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >"$WORK/third.log" 2>&1 || rc=$?
((rc == 78)) || fail "http.listen without a port exited $rc, not 78"
grep -q 'OUTBOX_RELAY_HTTP_LISTEN' "$WORK/third.log" || fail "no line naming the variable: $(cat "$WORK/third.log")"
relay_stop

# backfill --http-listen: the job's progress on /metrics while it runs (300 rows at 150/s).
"$RELAY_BIN" backfill -c "$ROOT/etc/outbox-relay.conf" --job http --topic "it.$ID.replay" --rate 150 \
  --http-listen 127.0.0.1:0 >"$WORK/backfill.log" 2>&1 &
BG_PIDS+=($!)
backfill=$!
addr=$(http_address "$WORK/backfill.log")
wait_http "http://$addr/readyz" 200 10
curl -s "http://$addr/metrics" >"$WORK/backfill.metrics"
grep -q '^outbox_relay_build_info{.*command="backfill"} 1$' "$WORK/backfill.metrics" || fail "backfill's build_info: $(grep build_info "$WORK/backfill.metrics")"
grep -q '^outbox_relay_backfill_rows 300$' "$WORK/backfill.metrics" || fail "backfill_rows is not 300: $(grep backfill_rows "$WORK/backfill.metrics")"
wait "$backfill" || fail "backfill exited $?"
log "backfill served its progress: $(grep '^outbox_relay_backfill_rows_done' "$WORK/backfill.metrics") mid-job"
cat "$WORK/backfill.log" >>"$WORK/relay.log"
log "ok: endpoints, 405/404, a huge header, 40 held connections while streaming, port in use (exit 78)"
