#!/usr/bin/env bash
# Drive the local Postgres cluster for fault tests.
#   stop-immediate  pg_ctl stop -m immediate (crash-like: no checkpoint,
#                   recovery replays WAL on the next start)
#   stop            pg_ctl stop -m fast (clean)
#   start           start on the existing data and wait until it answers
#   status          exit 1 if not running
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in
  stop-immediate) pg_stop immediate ;;
  stop) pg_stop fast ;;
  start) pg_start ;;
  status)
    pg_paths
    pg_running || die "Postgres is not running"
    log "Postgres running ($PG_DATA)"
    ;;
  *) die "usage: $0 stop-immediate|stop|start|status" ;;
esac
