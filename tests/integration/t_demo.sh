#!/usr/bin/env bash
# README command one must keep working: deploy/local/demo.sh ends with "demo OK" after
# both consumer groups received every event.
set -euo pipefail
ROOT=${RELAY_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)}
out=$("$ROOT/deploy/local/demo.sh" 2>&1) || { echo "$out"; exit 1; }
echo "$out" | tail -8
grep -q '^demo OK: 50 events' <<<"$out"
