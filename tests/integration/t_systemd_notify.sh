#!/usr/bin/env bash
# The relay under a service manager: this test plays systemd's side of the notify protocol
# (tests/tools/notify_listen.c on NOTIFY_SOCKET, WATCHDOG_USEC set as systemd sets it) and
# checks what deploy/systemd/outbox-relay.service relies on: READY=1 only once streaming,
# STATUS= with the confirmed position, WATCHDOG=1 at half of the watchdog period (never a gap
# of a whole period) while streaming and while waiting as a standby, READY=1 for a standby
# too, STOPPING=1 on SIGTERM before the exit.
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

LISTEN_BIN=${NOTIFY_LISTEN_BIN:-$(dirname -- "$RELAY_BIN")/notify_listen}
WATCHDOG_MS=2000 # the test's WatchdogSec: pings are due every 1000 ms
LISTEN_PIDS=()
stop_listeners() {
  local pid
  for pid in "${LISTEN_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}
# Without errexit (a failing command would end the trap early), the test's status kept.
trap 'rc=$?; set +e; stop_listeners; (exit $rc); cleanup' EXIT

setup_db
insert() { sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) SELECT 'order', 'k' || g, 'OrderCreated', '{}' FROM generate_series(1, $1) g"; }
wait_for() { # wait_for FILE PATTERN [SECONDS]
  local deadline=$((SECONDS + ${3:-30}))
  until grep -qE "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "no '$2' in $1: $(tr '\t' ' ' <"$1" 2>/dev/null | tail -n 5)"
    sleep 0.1
  done
}
listen() { # listen NAME: a notify socket $WORK/NAME.sock, messages in $WORK/NAME.msgs
  "$LISTEN_BIN" "$WORK/$1.sock" >"$WORK/$1.msgs" &
  LISTEN_PIDS+=($!)
  until [[ -S $WORK/$1.sock ]]; do
    kill -0 "${LISTEN_PIDS[-1]}" 2>/dev/null || fail "notify_listen ($LISTEN_BIN) did not start"
    sleep 0.05
  done
}
# check_pings FILE FROM TO: the WATCHDOG=1 messages between monotonic seconds FROM and TO come
# at least every WATCHDOG_MS and no more often than every half of it (less 100 ms of slack).
check_pings() {
  local out
  out=$(awk -F'\t' -v from="$2" -v to="$3" -v wd="$WATCHDOG_MS" '
    $2 == "WATCHDOG=1" && $1 >= from && $1 <= to {
      if (n++ > 0) { gap = ($1 - last) * 1000; if (gap > max) max = gap; if (min == "" || gap < min) min = gap }
      last = $1 }
    END { if (n < 2) { print "only " n + 0 " pings"; exit }
          if (max >= wd) print "a gap of " max " ms (watchdog " wd " ms)"
          else if (min < wd / 2 - 100) print "pings " min " ms apart (due every " wd / 2 " ms)"
          else print "ok " n " pings, gaps " min "-" max " ms" }' "$1")
  [[ $out == ok* ]] || fail "watchdog in $1: $out"
  log "watchdog ($1): $out"
}
now_mono() { awk '{ print $1 }' /proc/uptime; } # CLOCK_MONOTONIC's scale (boot time)

# --- the streaming relay
listen first
NOTIFY_SOCKET=$WORK/first.sock WATCHDOG_USEC=$((WATCHDOG_MS * 1000)) relay_start
wait_for "$WORK/first.msgs" $'\tREADY=1'
grep -q "streaming from" "$WORK/relay.log" || fail "READY=1 came before the relay was streaming"
grep -q $'READY=1\tSTATUS=streaming from [0-9A-F]*/[0-9A-F]*$' "$WORK/first.msgs" ||
  fail "READY=1 without STATUS=streaming from <position>: $(head -n 3 "$WORK/first.msgs")"
(($(grep -c 'READY=1' "$WORK/first.msgs") == 1)) || fail "READY=1 sent more than once"

insert 200
target=$(current_lsn)
wait_confirmed "$target" 30
# STATUS= follows the confirmed position: soon it tells what was just confirmed, or later.
deadline=$((SECONDS + 10))
while :; do
  at=$(sed -n 's/.*\tSTATUS=streaming, confirmed \([0-9A-F]*\/[0-9A-F]*\)$/\1/p' "$WORK/first.msgs" | tail -n 1)
  [[ -n $at && $(sql -c "SELECT '$at'::pg_lsn >= '$target'") == t ]] && break
  ((SECONDS < deadline)) || fail "no STATUS=streaming, confirmed >= $target (last: ${at:-none})"
  sleep 0.2
done
log "STATUS reached the confirmed position $target"

t0=$(now_mono)
sleep 6
check_pings "$WORK/first.msgs" "$t0" "$(now_mono)"

# --- a standby replica is started, and fed its watchdog while it waits
listen second
NOTIFY_SOCKET=$WORK/second.sock WATCHDOG_USEC=$((WATCHDOG_MS * 1000)) \
  "$RELAY_BIN" run -c "$ROOT/etc/outbox-relay.conf" >"$WORK/second.log" 2>&1 &
second=$!
wait_for "$WORK/second.msgs" $'READY=1\tSTATUS=standby: replication slot "'"$SLOT"'" is in use'
t0=$(now_mono)
sleep 6 # the standby's retries back off to 5 s: the pings must not
check_pings "$WORK/second.msgs" "$t0" "$(now_mono)"
kill -TERM "$second"
wait "$second" || fail "standby exited $? on SIGTERM"
grep -q $'STOPPING=1\tSTATUS=stopping' "$WORK/second.msgs" || fail "standby sent no STOPPING=1"

# --- SIGTERM: STOPPING=1, then exit 0 with everything confirmed
insert 100
wait_confirmed "$(current_lsn)" 30
relay_stop
grep -q $'STOPPING=1\tSTATUS=stopping' "$WORK/first.msgs" || fail "no STOPPING=1 on SIGTERM"
(($(grep -c 'STOPPING=1' "$WORK/first.msgs") == 1)) || fail "STOPPING=1 sent more than once"
consume "it.$ID.order" >"$WORK/records"
n=$(event_ids "$WORK/records" | sort -nu | wc -l)
((n == 300)) || fail "expected 300 records, got $n"
cat "$WORK/second.log" >>"$WORK/relay.log"

# --- without WATCHDOG_USEC (or with another process's WATCHDOG_PID) no pings are sent
listen third
NOTIFY_SOCKET=$WORK/third.sock WATCHDOG_USEC=1000000 WATCHDOG_PID=1 relay_start
wait_for "$WORK/third.msgs" $'\tREADY=1'
sleep 2
relay_stop
! grep -q WATCHDOG "$WORK/third.msgs" || fail "pinged a watchdog meant for process 1"
log "ok: READY=1 once streaming (and for a standby), STATUS with the position, watchdog at half its period, STOPPING=1 on SIGTERM"
