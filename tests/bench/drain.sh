#!/usr/bin/env bash
# Backlog drain benchmark (DESIGN §8): ROWS outbox rows (default 1,000,000) written while
# nothing reads, in 1-row and in 1000-row transactions. Over the same WAL, two slots:
#   baseline  pg_recvlogical (pgoutput, proto 1) to /dev/null: the raw decode rate
#   relay     outbox-relay until the slot is confirmed at the end of the backlog
#   relay+http  the same with the HTTP endpoint on (http.listen) and /metrics scraped every
#             second, as Prometheus would: the endpoint's overhead (runs off, on, on, off)
# A third slot is read first and not timed, so both timed runs find the WAL in the page
# cache (otherwise whichever runs first pays for the disk).
# Prints the rates, the relay's ratio to pg_recvlogical, the relay's peak RSS and the
# endpoint's overhead in wall time and in the relay's CPU time; the last line is
#   drain ratio=<worst ratio> rss_mb=<peak RSS> http_overhead_pct=<worst> http_cpu_overhead_pct=<worst>
# Targets: ratio >= 0.8, RSS <= 32 MB.  Usage: tests/bench/drain.sh [ROWS]
BENCH=drain
# shellcheck source=tests/bench/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
ROWS=${1:-1000000}

# timed_relay SLOT END TAG [VAR=VALUE...]: `outbox-relay run` over SLOT until it confirmed
# END; prints "seconds peak_rss_kb cpu_seconds scrape_ms" (the relay's user + system CPU, which
# the machine's other load disturbs less than the wall time). With OUTBOX_RELAY_HTTP_LISTEN
# among the variables, /metrics is scraped every second meanwhile, as Prometheus would, and
# after the drain 200 scrapes in a row measure the relay CPU one costs (scrape_ms; else 0).
timed_relay() {
  local slot=$1 end=$2 tag=$3 t0 t1 rss cpu addr scraper= scrape_ms=0 c0
  shift 3
  relay_start etc/outbox-relay.conf "$WORK/$tag.log" "bench-$tag-$RUN" "$slot" "bench.$tag.$RUN" "$@"
  t0=$(now)
  if [[ $* == *OUTBOX_RELAY_HTTP_LISTEN* ]]; then
    until addr=$(sed -n 's/.* on \([0-9.]*:[0-9]*\)$/\1/p' "$WORK/$tag.log") && [[ -n $addr ]]; do
      relay_alive "$WORK/$tag.log"
      sleep 0.01
    done
    (while curl -s -o /dev/null "http://$addr/metrics"; do sleep 1; done) &
    scraper=$!
  fi
  wait_slot "$slot" "$end" "$WORK/$tag.log" 0.05
  t1=$(now)
  rss=$(awk '/VmHWM/ { print $2 }' "/proc/$RELAY_PID/status")
  cpu=$(relay_cpu)
  if [[ -n $scraper ]]; then
    kill "$scraper" 2>/dev/null || true
    wait "$scraper" 2>/dev/null || true
    c0=$(relay_cpu)
    for _ in {1..200}; do curl -s -o /dev/null "http://$addr/metrics"; done
    scrape_ms=$(echo "scale=3; ($(relay_cpu) - $c0) * 1000 / 200" | bc)
  fi
  kill -TERM "$RELAY_PID"
  wait "$RELAY_PID"
  echo "$(echo "$t1 - $t0" | bc) $rss $cpu $scrape_ms"
}
relay_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$RELAY_PID/stat"; }

# scenario TXN_SIZE: prints "seconds_recvlogical seconds_relay peak_rss_kb
# seconds_relay_http cpu_relay cpu_relay_http scrape_ms". The relay runs four times over the same WAL, endpoint off, on, on,
# off (so a machine getting busier or quieter meanwhile weighs on both alike); each figure is
# the mean of its two runs. Run in a subshell: its database and slots are its own, dropped
# at its end.
scenario() {
  local size=$1 slot_warm=bench_warm_${1}_$RUN slot_raw=bench_raw_${1}_$RUN i
  local slots=(bench_off1_${1}_$RUN bench_on1_${1}_$RUN bench_on2_${1}_$RUN bench_off2_${1}_$RUN)
  DB=bench_${size}_$RUN
  DBURL=${PGURL%/*}/$DB

  create_db sql/01_outbox.sql sql/02_publication.sql
  create_slot "$slot_warm"
  create_slot "$slot_raw"
  for i in "${slots[@]}"; do create_slot "$i"; done
  log "writing $ROWS rows in $size-row transactions"
  write_backlog "$size" "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
      SELECT 'order', 'order-' || ((t * $size + g) % 10000), 'OrderCreated',
             jsonb_build_object('order_id', t * $size + g, 'amount', 19.99, 'currency', 'EUR')"
  local end t0 t1 off1 on1 on2 off2 rss rss2 x c_off1 c_on1 c_on2 c_off2 scrape
  end=$(sql -c "SELECT pg_current_wal_lsn()")

  log "warming the page cache (untimed pg_recvlogical)"
  recvlogical "$slot_warm" "$end"
  log "pg_recvlogical over the backlog"
  t0=$(now)
  recvlogical "$slot_raw" "$end"
  t1=$(now)

  log "outbox-relay over the same backlog: endpoint off, on, on, off (on: /metrics every second)"
  read -r off1 rss c_off1 _ < <(timed_relay "${slots[0]}" "$end" "off1-$size")
  read -r on1 x c_on1 _ < <(timed_relay "${slots[1]}" "$end" "on1-$size" OUTBOX_RELAY_HTTP_LISTEN=127.0.0.1:0)
  read -r on2 x c_on2 scrape < <(timed_relay "${slots[2]}" "$end" "on2-$size" OUTBOX_RELAY_HTTP_LISTEN=127.0.0.1:0)
  read -r off2 rss2 c_off2 _ < <(timed_relay "${slots[3]}" "$end" "off2-$size")
  ((rss2 > rss)) && rss=$rss2
  log "$size-row: off $off1 s ($c_off1 s CPU), on $on1 s ($c_on1), on $on2 s ($c_on2), off $off2 s ($c_off2)"
  drop_db
  echo "$(echo "$t1 - $t0" | bc) $(echo "scale=3; ($off1 + $off2) / 2" | bc) $rss" \
    "$(echo "scale=3; ($on1 + $on2) / 2" | bc) $(echo "scale=3; ($c_off1 + $c_off2) / 2" | bc)" \
    "$(echo "scale=3; ($c_on1 + $c_on2) / 2" | bc) $scrape"
}

printf '%-18s %10s %14s %14s %14s %14s %7s %12s %14s %10s %10s %10s\n' "transactions" "rows" "recvlogical s" "recvlogical/s" "relay s" "relay/s" "ratio" "relay RSS MB" "relay+http/s" "http +%" "CPU s" "CPU +%"
worst=999 peak=0 overhead=-999 cpu_overhead=-999
for size in 1 1000; do
  read -r s_raw s_relay rss s_http c_relay c_http scrape < <(scenario "$size")
  raw_rate=$(echo "$ROWS / $s_raw" | bc)
  relay_rate=$(echo "$ROWS / $s_relay" | bc)
  ratio=$(echo "scale=2; $relay_rate / $raw_rate" | bc)
  rss_mb=$(echo "scale=1; $rss / 1024" | bc)
  http_rate=$(echo "$ROWS / $s_http" | bc)
  pct=$(echo "scale=1; ($s_http - $s_relay) * 100 / $s_relay" | bc)
  cpct=$(echo "scale=1; ($c_http - $c_relay) * 100 / $c_relay" | bc)
  printf '%-18s %10d %14.2f %14d %14.2f %14d %7.2f %12.1f %14d %10.1f %10.2f %10.1f\n' "$size-row" "$ROWS" "$s_raw" "$raw_rate" "$s_relay" "$relay_rate" "$ratio" "$rss_mb" "$http_rate" "$pct" "$c_relay" "$cpct"
  worst=$(echo "if ($ratio < $worst) $ratio else $worst" | bc)
  peak=$(echo "if ($rss_mb > $peak) $rss_mb else $peak" | bc)
  overhead=$(echo "if ($pct > $overhead) $pct else $overhead" | bc)
  cpu_overhead=$(echo "if ($cpct > $cpu_overhead) $cpct else $cpu_overhead" | bc)
  log "one scrape of /metrics costs the relay $scrape ms of CPU (200 in a row after the drain)"
done
echo "drain ratio=$worst rss_mb=$peak http_overhead_pct=$overhead http_cpu_overhead_pct=$cpu_overhead"
