#!/usr/bin/env bash
# Backlog drain benchmark (DESIGN §8): ROWS outbox rows (default 1,000,000) written while
# nothing reads, in 1-row and in 1000-row transactions. Over the same WAL, two slots:
#   baseline  pg_recvlogical (pgoutput, proto 1) to /dev/null: the raw decode rate
#   relay     outbox-relay until the slot is confirmed at the end of the backlog
# A third slot is read first and not timed, so both timed runs find the WAL in the page
# cache (otherwise whichever runs first pays for the disk).
# Prints both rates, their ratio and the relay's peak RSS; the last line is
#   drain ratio=<worst ratio> rss_mb=<peak RSS>
# Targets: ratio >= 0.8, RSS <= 32 MB.  Usage: tests/bench/drain.sh [ROWS]
BENCH=drain
# shellcheck source=tests/bench/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
ROWS=${1:-1000000}

# scenario TXN_SIZE: prints "seconds_recvlogical seconds_relay peak_rss_kb". Run in a
# subshell: its database and slots are its own, dropped at its end.
scenario() {
  local size=$1 slot_warm=bench_warm_${1}_$RUN slot_raw=bench_raw_${1}_$RUN
  local slot_relay=bench_relay_${1}_$RUN
  DB=bench_${size}_$RUN
  DBURL=${PGURL%/*}/$DB

  create_db sql/01_outbox.sql sql/02_publication.sql
  create_slot "$slot_warm"
  create_slot "$slot_raw"
  create_slot "$slot_relay"
  log "writing $ROWS rows in $size-row transactions"
  write_backlog "$size" "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
      SELECT 'order', 'order-' || ((t * $size + g) % 10000), 'OrderCreated',
             jsonb_build_object('order_id', t * $size + g, 'amount', 19.99, 'currency', 'EUR')"
  local end t0 t1 t2 t3 rss=0
  end=$(sql -c "SELECT pg_current_wal_lsn()")

  log "warming the page cache (untimed pg_recvlogical)"
  recvlogical "$slot_warm" "$end"
  log "pg_recvlogical over the backlog"
  t0=$(now)
  recvlogical "$slot_raw" "$end"
  t1=$(now)

  log "outbox-relay over the same backlog"
  relay_start etc/outbox-relay.conf "$WORK/relay-$size.log" "bench-$size-$RUN" "$slot_relay" "bench.$size.$RUN"
  t2=$(now)
  wait_slot "$slot_relay" "$end" "$WORK/relay-$size.log" 0.05
  t3=$(now)
  rss=$(awk '/VmHWM/ { print $2 }' "/proc/$RELAY_PID/status")
  kill -TERM "$RELAY_PID"
  wait "$RELAY_PID"
  drop_db
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t3 - $t2" | bc) $rss"
}

printf '%-18s %10s %14s %14s %14s %14s %7s %12s\n' "transactions" "rows" "recvlogical s" "recvlogical/s" "relay s" "relay/s" "ratio" "relay RSS MB"
worst=999 peak=0
for size in 1 1000; do
  read -r s_raw s_relay rss < <(scenario "$size")
  raw_rate=$(echo "$ROWS / $s_raw" | bc)
  relay_rate=$(echo "$ROWS / $s_relay" | bc)
  ratio=$(echo "scale=2; $relay_rate / $raw_rate" | bc)
  rss_mb=$(echo "scale=1; $rss / 1024" | bc)
  printf '%-18s %10d %14.2f %14d %14.2f %14d %7.2f %12.1f\n' "$size-row" "$ROWS" "$s_raw" "$raw_rate" "$s_relay" "$relay_rate" "$ratio" "$rss_mb"
  worst=$(echo "if ($ratio < $worst) $ratio else $worst" | bc)
  peak=$(echo "if ($rss_mb > $peak) $rss_mb else $peak" | bc)
done
echo "drain ratio=$worst rss_mb=$peak"
