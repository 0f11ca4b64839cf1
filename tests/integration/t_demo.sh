#!/usr/bin/env bash
# README commands one must keep working: deploy/local/demo.sh, and its logical-message variant
# deploy/local/demo.sh --messages, each end with "demo OK" after the seed article's own
# consumers (deploy/local/consumers/, kafka-python, read_committed) handled every order once in
# analytics-group and inventory-group, the relay kill -9ed mid-stream.
set -euo pipefail
ROOT=${RELAY_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)}
for c in analytics inventory; do
  grep -q '^    isolation_level="read_committed",$' "$ROOT/deploy/local/consumers/$c.py" ||
    { echo "deploy/local/consumers/$c.py does not read with read_committed"; exit 1; }
done
for variant in "" --messages; do
  out=$("$ROOT/deploy/local/demo.sh" ${variant:+"$variant"} 2>&1) || { echo "$out"; exit 1; }
  echo "$out" | tail -10
  grep -q '^\[Analytics\] Order [0-9]* revenue: [0-9.]*$' <<<"$out"
  grep -q '^\[Inventory\] Reserve for order [0-9]*$' <<<"$out"
  grep -q '^demo OK: 50 events .*the relay killed once mid-stream.* handled each of the 20 orders once in both groups' <<<"$out"
done
