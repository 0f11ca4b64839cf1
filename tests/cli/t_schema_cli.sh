#!/usr/bin/env bash
# `outbox-relay schema check|validate`, as a producer's CI runs it: exit 0 valid, 1 invalid
# with the reason on stderr, 2 on usage or schema errors; check reports every broken file.
# Needs no servers.  Usage: t_schema_cli.sh [RELAY_BIN]
set -euo pipefail
ROOT=${RELAY_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)}
BIN=${1:-${RELAY_BIN:-$ROOT/build/outbox-relay}}
WORK=$(mktemp -d /tmp/relay-schema-cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# expect CODE STDERR_PATTERN -- command...: exit code, and a stderr line matching (or "" for none).
expect() {
  local code=$1 pattern=$2 rc=0
  shift 3
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  ((rc == code)) || fail "$*: exit $rc, expected $code: $(cat "$WORK/out" "$WORK/err")"
  if [[ -n $pattern ]]; then
    grep -Eq -- "$pattern" "$WORK/err" || fail "$*: no stderr line matching '$pattern': $(cat "$WORK/err")"
  fi
}

S=$ROOT/etc/schemas
valid='{"event_id": "1", "type": "OrderCreated", "payload": {"order_id": 1001, "amount": 99.5}}'
invalid='{"event_id": "1", "type": "OrderCreated", "payload": {"order_id": 1001, "amount": "free"}}'

# The shipped schemas compile; the seed's valid event passes, from stdin or a file.
expect 0 '' -- "$BIN" schema check "$S"
grep -q '^OK   OrderCreated.json .*draft-07' "$WORK/out" || fail "check output: $(cat "$WORK/out")"
grep -q '^3 schemas compiled, 0 broken' "$WORK/out" || fail "check summary: $(cat "$WORK/out")"
expect 0 '' -- bash -c "echo '$valid' | '$BIN' schema validate '$S/OrderCreated.json'"
echo "$valid" >"$WORK/valid.json"
expect 0 '' -- "$BIN" schema validate "$S/OrderCreated.json" "$WORK/valid.json"
grep -q 'valid.json: valid' "$WORK/out" || fail "no 'valid' line: $(cat "$WORK/out")"

# Invalid: exit 1, where and why on stderr. Not JSON is invalid too, with line:column.
echo "$invalid" >"$WORK/invalid.json"
expect 1 'invalid.json: invalid: /payload/amount: type: expected number, got string' -- \
  "$BIN" schema validate "$S/OrderCreated.json" "$WORK/invalid.json"
expect 1 '\(stdin\):[0-9]+:[0-9]+: invalid: not JSON' -- \
  bash -c "echo '{\"event_id\": ' | '$BIN' schema validate '$S/OrderCreated.json' -"

# Dialect: without --draft "$schema" decides, absent both 2020-12; --draft wins.
echo '{"prefixItems": [{"type": "integer"}]}' >"$WORK/tuple.json"
echo '["x"]' >"$WORK/strings.json"
expect 1 '/0: type: expected integer' -- "$BIN" schema validate "$WORK/tuple.json" "$WORK/strings.json"
expect 0 '' -- "$BIN" schema validate --draft 7 "$WORK/tuple.json" "$WORK/strings.json"
echo '{"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "integer"}]}' >"$WORK/d7.json"
expect 1 '/0: type: expected integer' -- "$BIN" schema validate "$WORK/d7.json" "$WORK/strings.json"
expect 2 'd7.json: /items: ' -- "$BIN" schema validate --draft 2020-12 "$WORK/d7.json" "$WORK/strings.json"

# Formats are annotations unless asked for.
echo '{"format": "date-time"}' >"$WORK/when.json"
echo '"yesterday"' >"$WORK/yesterday.json"
expect 0 '' -- "$BIN" schema validate "$WORK/when.json" "$WORK/yesterday.json"
expect 1 'format' -- "$BIN" schema validate --assert-format "$WORK/when.json" "$WORK/yesterday.json"

# "$ref" to a sibling file, as in schemas.dir.
mkdir "$WORK/dir"
echo '{"$defs": {"money": {"type": "number", "minimum": 0}}}' >"$WORK/dir/Common.json"
echo '{"properties": {"amount": {"$ref": "Common.json#/$defs/money"}}}' >"$WORK/dir/Paid.json"
echo '{"amount": -1}' >"$WORK/neg.json"
expect 1 '/amount: minimum' -- "$BIN" schema validate "$WORK/dir/Paid.json" "$WORK/neg.json"

# Schema errors and usage: exit 2.
echo '{"type": "objekt"}' >"$WORK/bad.json"
expect 2 'bad.json: /type: ' -- "$BIN" schema validate "$WORK/bad.json" "$WORK/valid.json"
printf '{"type":\n' >"$WORK/broken.json"
expect 2 'broken.json:2:' -- "$BIN" schema validate "$WORK/broken.json" "$WORK/valid.json"
expect 2 'cannot read' -- "$BIN" schema validate "$S/OrderCreated.json" "$WORK/missing.json"
expect 2 'validate needs a schema file' -- "$BIN" schema validate
expect 2 '--draft "4": expected 7 or 2020-12' -- "$BIN" schema validate --draft 4 "$WORK/bad.json"
expect 2 'unknown option "--fast"' -- "$BIN" schema validate --fast "$WORK/bad.json"
expect 2 'unknown command "lint"' -- "$BIN" schema lint "$S"
expect 0 '' -- "$BIN" schema --help

# check reports every broken file, not only the first, and exits 2.
cp "$S"/*.json "$WORK/dir/"
cp "$WORK/bad.json" "$WORK/dir/Bad.json"
cp "$WORK/broken.json" "$WORK/dir/Broken.json"
echo '{"$ref": "Missing.json"}' >"$WORK/dir/Dangling.json"
expect 2 'Bad.json: /type: ' -- "$BIN" schema check "$WORK/dir"
grep -q 'Broken.json:2:' "$WORK/err" || fail "check missed Broken.json: $(cat "$WORK/err")"
grep -q 'Dangling.json: ' "$WORK/err" || fail "check missed Dangling.json: $(cat "$WORK/err")"
grep -q '^5 schemas compiled, 3 broken' "$WORK/err" || fail "check summary: $(cat "$WORK/out" "$WORK/err")"
grep -q '^OK   OrderShipped.json' "$WORK/out" || fail "check lost good files: $(cat "$WORK/out")"
mkdir "$WORK/empty"
expect 2 'no \*.json schema files' -- "$BIN" schema check "$WORK/empty"
expect 2 'cannot open schema directory' -- "$BIN" schema check "$WORK/nope"

# Boolean schemas (JSON Schema allows them): true accepts every instance, false none; a
# schema that is another scalar is refused with the reason.
mkdir "$WORK/bool"
echo true >"$WORK/bool/Anything.json"
echo false >"$WORK/bool/Nothing.json"
expect 0 '' -- "$BIN" schema check "$WORK/bool"
grep -q '^2 schemas compiled, 0 broken' "$WORK/out" || fail "boolean schemas: $(cat "$WORK/out" "$WORK/err")"
expect 0 '' -- "$BIN" schema validate "$WORK/bool/Anything.json" "$WORK/valid.json"
expect 1 'invalid: .*false' -- "$BIN" schema validate "$WORK/bool/Nothing.json" "$WORK/valid.json"
echo '"string"' >"$WORK/scalar.json"
expect 2 'scalar.json: .*must be an object or a boolean' -- "$BIN" schema validate "$WORK/scalar.json" "$WORK/valid.json"
echo "ok: schema check and validate"
