#!/usr/bin/env bash
# Audit benchmark: ROWS outbox rows (default 1,000,000) backfilled into a scratch topic, then
# `outbox-relay audit --topic` over all of them, beside an audit of a tenth of the range (the
# baseline, same run): wall time, rows per second and peak RSS of each, and the memory each
# further row costs. Memory grows with the selection's rows (one entry per event id), not
# with the records read. The last line is
#   audit rows_per_s=<over ROWS> rss_mb=<peak over ROWS> bytes_per_row=<growth per row>
# Usage: tests/bench/audit.sh [ROWS]      (BUILD=dir to use another build directory)
BENCH=audit
# shellcheck source=tests/bench/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
ROWS=${1:-1000000}
TOPIC=bench.audit.$RUN

outbox_rows "$ROWS"
log "backfilling them into $TOPIC"
"$BUILD/outbox-relay" backfill -c etc/outbox-relay.conf --job all --topic "$TOPIC" 2>"$WORK/backfill.log" ||
  { tail -3 "$WORK/backfill.log" >&2; exit 1; }

# audit_run ROWS: prints "wall_s peak_rss_kb" of an audit of ids 1..ROWS
audit_run() {
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$BUILD/outbox-relay" audit -c etc/outbox-relay.conf \
    --to-id "$1" --topic "$TOPIC" >"$WORK/audit-$1.out" 2>"$WORK/audit-$1.err" ||
    { tail -3 "$WORK/audit-$1.out" "$WORK/audit-$1.err" >&2; exit 1; }
  grep -q "^audit rows=$1 published_once=$1 " "$WORK/audit-$1.out" ||
    { tail -1 "$WORK/audit-$1.out" >&2; exit 1; }
  cat "$WORK/time"
}
read -r base_s base_kb < <(audit_run $((ROWS / 10)))
read -r full_s full_kb < <(audit_run "$ROWS")
printf '%-12s %10s %10s %12s %10s\n' run rows wall_s rows_per_s rss_mb
for r in "tenth $((ROWS / 10)) $base_s $base_kb" "all $ROWS $full_s $full_kb"; do
  read -r name n s kb <<<"$r"
  printf '%-12s %10d %10.2f %12.0f %10.1f\n' "$name" "$n" "$s" "$(bc -l <<<"$n / $s")" "$(bc -l <<<"$kb / 1024")"
done
printf 'audit rows_per_s=%.0f rss_mb=%.1f bytes_per_row=%.0f\n' "$(bc -l <<<"$ROWS / $full_s")" \
  "$(bc -l <<<"$full_kb / 1024")" "$(bc -l <<<"($full_kb - $base_kb) * 1024 / ($ROWS * 0.9)")"
