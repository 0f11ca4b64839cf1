#!/usr/bin/env bash
# README commands one must keep working: deploy/local/demo.sh, and its logical-message variant
# deploy/local/demo.sh --messages, each end with "demo OK" after both consumer groups
# received every event.
set -euo pipefail
ROOT=${RELAY_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)}
for variant in "" --messages; do
  out=$("$ROOT/deploy/local/demo.sh" ${variant:+"$variant"} 2>&1) || { echo "$out"; exit 1; }
  echo "$out" | tail -8
  grep -q '^demo OK: 50 events' <<<"$out"
done
