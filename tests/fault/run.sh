#!/usr/bin/env bash
# The fault matrix (issue 3): every case of tests/fault/case.sh, each run repeated with
# randomized timing, against the real servers. Prints one line per run and a total:
#   fault matrix: cases=<n> runs=<n> lost=<n> duplicated=<n> misordered=<n>
#   tests/fault/run.sh            reduced matrix (CI, a few minutes)
#   tests/fault/run.sh --full     every case, three runs each, longer writers
set -euo pipefail
DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
if [[ -z ${PGURL:-} || -z ${KAFKA_BROKERS:-} ]]; then
  eval "$("$DIR/../../deploy/local/up.sh")"
  export PGURL KAFKA_BROKERS
fi

if [[ ${1:-} == --full ]]; then
  cases=(F1 F2 F3 F4 F5 F6 F7 F8 F9 F10 F11 F12 F13 F14) runs=3 scale=2
else
  # The reduced matrix leaves out the slow broker outages (F4, F5, F9).
  cases=(F1 F2 F3 F6 F7 F8 F10 F11 F12 F13 F14) runs=1 scale=1
fi
# F14 (failover slots) needs Postgres 17: a server of its own beside the default one.
# Its port is the default server's less 15 (55417; its standby 17 above), so checkouts run
# with their own OUTBOX_PG_PORT never share it.
PG17=(OUTBOX_PG_VERSION=17 OUTBOX_PG_PORT=$((${OUTBOX_PG_PORT:-55432} - 15)))
case_env() { # case_env CASE: the environment it runs in
  if [[ $1 == F14 ]]; then
    env "${PG17[@]}" "$DIR/../../deploy/local/up.sh" 2>"/tmp/fault-pg17.log" | sed 's/^export //'
    printf '%s\n' "${PG17[@]}"
  fi
}

total_runs=0 lost=0 duplicated=0 misordered=0 failed=0
for c in "${cases[@]}"; do
  for ((r = 1; r <= runs; r++)); do
    mapfile -t envs < <(case_env "$c")
    line=$(env "${envs[@]}" bash "$DIR/case.sh" "$c" "$scale" 2>"/tmp/fault-$c-$r.err") ||
      failed=$((failed + 1))
    [[ -n $line ]] || line="$c FAILED: $(grep FAIL "/tmp/fault-$c-$r.err" | head -1)"
    echo "$line"
    total_runs=$((total_runs + 1))
    for k in lost duplicated misordered; do
      v=$(sed -n "s/.* $k=\([0-9]*\).*/\1/p" <<<"$line")
      declare "$k=$((${!k} + ${v:-0}))"
    done
  done
done
[[ " ${cases[*]} " != *" F14 "* ]] || env "${PG17[@]}" "$DIR/../../deploy/local/pg.sh" stop 2>/dev/null
echo "fault matrix: cases=${#cases[@]} runs=$total_runs lost=$lost duplicated=$duplicated misordered=$misordered failed=$failed"
((failed == 0 && lost == 0 && duplicated == 0 && misordered == 0))
