#!/usr/bin/env bash
# deploy/systemd/outbox-relay.service as systemd reads it: `systemd-analyze verify` has
# nothing to say (every directive known, the command executable), `systemd-analyze
# security` rates its exposure OK or better, and it keeps the settings the relay relies on.
# systemd need not be PID 1 (it is not on the development machine or in CI). The unit's
# ExecStart is pointed at the built binary, as verify checks that the command exists.
#
#   tests/deploy/t_systemd_unit.sh RELAY_BIN
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
RELAY_BIN=$(realpath "${1:-$ROOT/build/outbox-relay}")
UNIT=$ROOT/deploy/systemd/outbox-relay.service
WORK=$(mktemp -d /tmp/relay-systemd-unit.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "t_systemd_unit: FAIL: $*" >&2; exit 1; }

command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (Debian package systemd)"
sed "s#^ExecStart=/usr/local/bin/outbox-relay #ExecStart=$RELAY_BIN #" "$UNIT" >"$WORK/outbox-relay.service"
grep -q "^ExecStart=$RELAY_BIN run " "$WORK/outbox-relay.service" || fail "no ExecStart=/usr/local/bin/outbox-relay run in $UNIT"

out=$(systemd-analyze verify "$WORK/outbox-relay.service" 2>&1) || fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify complains: $out"

out=$(systemd-analyze security --offline=true "$WORK/outbox-relay.service" 2>&1 | tail -n 1)
level=$(sed -n 's/.*exposure level for outbox-relay.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' <<<"$out")
[[ $level == *" OK" || $level == *" SAFE" ]] || fail "systemd-analyze security: ${level:-$out} (want OK or better)"

# What the relay's behaviour needs of the unit (README "Deploying"): not mere style.
for want in 'Type=notify' 'WatchdogSec=' 'Restart=always' 'RestartPreventExitStatus=64 65 77 78 79' \
  'DynamicUser=yes' 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'PrivateTmp=yes' \
  'CapabilityBoundingSet=' 'RestrictAddressFamilies=' 'MemoryMax='; do
  grep -q "^$want" "$UNIT" || fail "$UNIT lacks $want"
done
# The stop must outlast the relay's own commit on SIGTERM (kafka.commit_timeout_ms, 30 s).
stop_s=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$UNIT")
((${stop_s:-0} > 30)) || fail "TimeoutStopSec=${stop_s:-?}s is not longer than the 30 s commit timeout"
echo "t_systemd_unit: verify clean, security exposure $level"
