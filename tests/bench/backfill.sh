#!/usr/bin/env bash
# Backfill benchmark: ROWS outbox rows (default 1,000,000) re-published by `outbox-relay
# backfill` into a scratch topic, next to a run over a tenth of the range and a --dry-run of
# the whole range (Postgres and mapping only), each a fresh job. For each: wall time, the
# relay's own publishing time and rate (its summary line: from the first page to the last
# commit, without connecting and fencing), and peak RSS (VmHWM, sampled every 20 ms while it
# runs). Memory must not grow with the range: keyset pages of 1000 rows, Kafka transactions
# of batch.max_events, librdkafka's bounded queue. The last line is
#   backfill events_per_s=<rate over ROWS> rss_mb=<peak RSS over ROWS>
# Usage: tests/bench/backfill.sh [ROWS]      (BUILD=dir to use another build directory)
BENCH=backfill
# shellcheck source=tests/bench/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
ROWS=${1:-1000000}

outbox_rows "$ROWS"

# job NAME ROWS [args]: prints "wall_s publish_s events_per_s peak_rss_kb"
job() {
  local name=$1 rows=$2 pid hwm=0 h t0 t1 line
  shift 2
  t0=$(now)
  "$BUILD/outbox-relay" backfill -c etc/outbox-relay.conf --job "$name-$RUN" --to-id "$rows" "$@" \
    2>"$WORK/$name.log" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    h=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [[ -n $h ]] && hwm=$h
    sleep 0.02
  done
  wait "$pid" || { cat "$WORK/$name.log" >&2; exit 1; }
  t1=$(now)
  # "... N events to … in S s (R events/s)" from the relay's summary.
  line=$(grep -E 'finished: published|would be published' "$WORK/$name.log" | tail -1)
  grep -q " $rows events" <<<"$line" || { echo "unexpected summary: $line" >&2; exit 1; }
  echo "$(echo "$t1 - $t0" | bc) $(sed -E 's/.* in ([0-9.]+) s.*/\1/' <<<"$line") $(sed -E 's/.*[( ]([0-9]+) events\/s\).*/\1/' <<<"$line") $hwm"
}

printf '%-28s %10s %8s %10s %12s %12s\n' "run" "rows" "wall s" "publish s" "events/s" "peak RSS MB"
row() { printf '%-28s %10d %8.2f %10.2f %12d %12.1f\n' "$1" "$2" "$3" "$4" "$5" "$(echo "scale=1; $6 / 1024" | bc)"; }
small=$((ROWS / 10))
log "backfill of $small rows"
read -r w p r small_rss < <(job small "$small" --topic "bench.backfill.small.$RUN")
row "publish 1/10 of the range" "$small" "$w" "$p" "$r" "$small_rss"
log "backfill of $ROWS rows"
read -r w p rate rss < <(job full "$ROWS" --topic "bench.backfill.full.$RUN")
row "publish the whole range" "$ROWS" "$w" "$p" "$rate" "$rss"
log "dry run of $ROWS rows"
read -r w p r dry_rss < <(job dry "$ROWS" --dry-run)
row "--dry-run, the whole range" "$ROWS" "$w" "$p" "$r" "$dry_rss"
echo "peak RSS, whole range / tenth of it: $(echo "scale=2; $rss / $small_rss" | bc)"
echo "backfill events_per_s=$rate rss_mb=$(echo "scale=1; $rss / 1024" | bc)"
