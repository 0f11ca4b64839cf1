#!/usr/bin/env bash
# The core server tests — exactly once with mixed transactions, SIGTERM restarts, the idle
# slot — on the other Postgres majors (deploy/local/lib.sh: 13, 14, 16, 17, 18 from Maven
# Central) and on Kafka 3.9.2. Each server starts on ports of its own beside the default
# ones (which keep serving 15 and Kafka 4.4) and is stopped afterwards. Prints one line per
# version and ends with a total; exit 1 when a test failed.
#   tests/versions/run.sh                 every version
#   tests/versions/run.sh pg:17 kafka:3.9.2   some
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
LOCAL=$ROOT/deploy/local
RELAY_BIN=${RELAY_BIN:-$ROOT/build/outbox-relay}
export RELAY_BIN RELAY_SOURCE_DIR=$ROOT
CORE=(exactly_once sigterm_restart idle_slot)
# Ports beside the default servers' (55400 + major, 59192/59193 by default), moved with them.
PG_BASE=${OUTBOX_PG_PORT:-55432} KAFKA_BASE=${OUTBOX_KAFKA_PORT:-59092}
targets=("$@")
((${#targets[@]})) || targets=(pg:13 pg:14 pg:16 pg:17 pg:18 kafka:3.9.2)

eval "$("$LOCAL/up.sh")" # the default servers: the other half of each pair
failed=0
for target in "${targets[@]}"; do
  kind=${target%%:*} version=${target#*:}
  case $kind in
    # Without the OUTBOX_TLS setup (the core tests do not use it; its listener ports are
    # the default broker's).
    pg) env=(OUTBOX_TLS=0 OUTBOX_PG_VERSION="$version"
      OUTBOX_PG_PORT=$((PG_BASE - 32 + ${version%%.*}))) ;;
    kafka) env=(OUTBOX_TLS=0 OUTBOX_KAFKA_VERSION="$version"
      OUTBOX_KAFKA_PORT=$((KAFKA_BASE + 100)) OUTBOX_KAFKA_CONTROLLER_PORT=$((KAFKA_BASE + 101))) ;;
    *) echo "unknown target $target (pg:MAJOR or kafka:VERSION)" >&2; exit 64 ;;
  esac
  start=$SECONDS
  urls=$(env "${env[@]}" "$LOCAL/up.sh" 2>"/tmp/versions-$target.log") ||
    { echo "$target: servers did not start: $(tail -3 "/tmp/versions-$target.log")"; failed=$((failed + 1)); continue; }
  results=()
  for t in "${CORE[@]}"; do
    if (eval "$urls" && export PGURL KAFKA_BROKERS &&
      bash "$ROOT/tests/integration/t_$t.sh") >>"/tmp/versions-$target.log" 2>&1; then
      results+=("$t=ok")
    else
      results+=("$t=FAILED")
      failed=$((failed + 1))
    fi
  done
  server=$(eval "$urls" && psql -X -At "$PGURL" -c "SHOW server_version" 2>/dev/null || true)
  # `check` names the version it found and accepts it.
  found=$(eval "$urls" && OUTBOX_RELAY_POSTGRES_CONNINFO=$PGURL OUTBOX_RELAY_KAFKA_BROKERS=$KAFKA_BROKERS \
    "$RELAY_BIN" check -c "$ROOT/etc/outbox-relay.conf" 2>&1 | grep 'server version' || true)
  if [[ $found == "OK "*"Postgres ${server%% *}"* ]]; then
    results+=("check=ok")
  else
    results+=("check=FAILED")
    failed=$((failed + 1))
    echo "check: $found" >>"/tmp/versions-$target.log"
  fi
  # outbox.source = "messages" (etc/messages.conf): pgoutput's messages option is 14+. On
  # 13 `check` fails the version with the reason and `run` refuses with one line (exit 78).
  if [[ $kind == pg ]]; then
    mfound=$(eval "$urls" && OUTBOX_RELAY_POSTGRES_CONNINFO=$PGURL OUTBOX_RELAY_KAFKA_BROKERS=$KAFKA_BROKERS \
      "$RELAY_BIN" check -c "$ROOT/etc/messages.conf" 2>&1 | grep 'server version' || true)
    mrc=0 mrun='' mok=0
    if [[ $version == 13 ]]; then
      mrun=$(eval "$urls" && OUTBOX_RELAY_POSTGRES_CONNINFO=$PGURL OUTBOX_RELAY_KAFKA_BROKERS=$KAFKA_BROKERS \
        OUTBOX_RELAY_HTTP_LISTEN='' timeout 60 "$RELAY_BIN" run -c "$ROOT/etc/messages.conf" 2>&1) || mrc=$?
      [[ $mfound == "FAIL "*'outbox.source = "messages" needs Postgres 14 or newer'* && $mrc == 78 &&
        $(grep -c ' error ' <<<"$mrun") == 1 && $mrun == *'outbox.source = "messages" needs Postgres 14 or newer'* ]] &&
        mok=1
    else
      [[ $mfound == "OK "* ]] && mok=1
    fi
    if ((mok)); then
      results+=("messages=ok")
    else
      results+=("messages=FAILED")
      failed=$((failed + 1))
      printf 'messages: check: %s\nrun (exit %s): %s\n' "$mfound" "$mrc" "$mrun" >>"/tmp/versions-$target.log"
    fi
  fi
  if [[ $kind == pg ]]; then
    env "${env[@]}" "$LOCAL/pg.sh" stop 2>>"/tmp/versions-$target.log"
  else
    env "${env[@]}" "$LOCAL/kafka.sh" stop 2>>"/tmp/versions-$target.log"
  fi
  echo "$target (Postgres $server): ${results[*]} ($((SECONDS - start)) s; log /tmp/versions-$target.log)"
done
echo "versions: targets=${#targets[@]} failed=$failed"
((failed == 0))
