#!/usr/bin/env bash
# deploy/prometheus/alerts.yml and deploy/grafana/outbox-relay.json, checked offline with
# promtool (Debian package prometheus): the rules load, every alert's unit test in
# tests/prometheus/alerts_test.yml passes, and every PromQL expression of the dashboard
# parses (Grafana's $__rate_interval and $instance given values; tests/integration/
# t_prometheus.sh also runs each against a live Prometheus).
set -euo pipefail
ROOT=${RELAY_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)}
command -v promtool >/dev/null || { echo "promtool missing (Debian package prometheus; deploy/local/up.sh installs it)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

promtool check rules "$ROOT/deploy/prometheus/alerts.yml"
promtool test rules "$ROOT/tests/prometheus/alerts_test.yml"

dash=$ROOT/deploy/grafana/outbox-relay.json
n=$(jq '[.panels[].targets[].expr] | length' "$dash")
((n > 0)) || { echo "no expressions in $dash" >&2; exit 1; }
# Each expression as a recording rule (JSON is YAML): promtool parses every one.
jq '{groups: [{name: "dashboard", rules: ([.panels[].targets[].expr] | to_entries | map({
      record: "dashboard:expr_\(.key)",
      expr: (.value | gsub("\\$__rate_interval"; "1m") | gsub("\\$instance"; ".*"))}))}]}' \
  "$dash" >"$tmp/dashboard-rules.json"
promtool check rules "$tmp/dashboard-rules.json"
echo "monitoring: alerts.yml and its tests OK, $n dashboard expressions parse"
