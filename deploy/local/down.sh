#!/usr/bin/env bash
# Stop the local Postgres and Kafka started by up.sh.
#   --purge  also delete their data and logs (the Maven jar cache is kept).
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

purge=
case ${1:-} in
  --purge) purge=1 ;;
  "") ;;
  *) die "usage: $0 [--purge]" ;;
esac

# Stop both even if one of them fails, then report.
rc=0
(pg_stop fast) || rc=1
(kafka_signal_stop TERM) || rc=1

if [[ -n $purge ]]; then
  if ((rc)); then
    die "not purging: a server did not stop"
  fi
  pg_paths
  log "purging $PG_DIR and $KAFKA_DIR"
  rm -rf -- "$PG_DIR" "$KAFKA_DIR"
  # The /var/tmp fallback (see pg_paths) is a per-checkout dir of its own.
  [[ $PG_DIR == "$LOCAL_DIR"/* ]] || rmdir -- "$(dirname -- "$PG_DIR")" 2>/dev/null || true
fi
exit "$rc"
