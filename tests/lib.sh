# shellcheck shell=bash
# Helpers for the server tests (tests/integration, tests/fault): each test gets its own
# database, slot, relay name and topics on the shared Postgres and Kafka
# (deploy/local/up.sh), so tests never see each other's data. The relay is configured by
# etc/outbox-relay.conf plus environment overrides, as an operator would do.
set -euo pipefail

: "${PGURL:?run under tests/run.sh (or eval \"\$(deploy/local/up.sh)\")}"
: "${KAFKA_BROKERS:?run under tests/run.sh}"
ROOT=${RELAY_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)}
RELAY_BIN=${RELAY_BIN:-$ROOT/build/outbox-relay}
TXN_HOLD_BIN=${TXN_HOLD_BIN:-$(dirname -- "$RELAY_BIN")/txn_hold}
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
TEST_NAME=${TEST_NAME#t_}
ID=$(tr "[:upper:]" "[:lower:]" <<<"${TEST_NAME}_$$_$RANDOM") # Postgres folds unquoted names
WORK=$(mktemp -d "/tmp/relay-it-$TEST_NAME.XXXXXX")
DB=it_$ID
DBURL=${PGURL%/*}/$DB
SLOT=it_$ID
RELAY_PID=
HOLD_PID=
BG_PIDS=() # other processes a test started (a second relay, Prometheus): killed on exit
# Tests run several relays at once (standbys, the fault matrix): none serves HTTP unless a
# test gives it a port of its own (free_port), so none collides on http.listen's default.
export OUTBOX_RELAY_HTTP_LISTEN=

log() { printf '[%s %s] %s\n' "$TEST_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
  log "FAIL: $*"
  [[ -f $WORK/relay.log ]] && { echo "--- relay log (last 40 lines)"; tail -n 40 "$WORK/relay.log"; } >&2
  exit 1
}
sql() { psql -X -q -v ON_ERROR_STOP=1 -At "$DBURL" "$@"; }

cleanup() {
  local rc=$?
  [[ -n $RELAY_PID ]] && kill -9 "$RELAY_PID" 2>/dev/null || true
  [[ -n $HOLD_PID ]] && kill -9 "$HOLD_PID" 2>/dev/null || true
  for pid in "${BG_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  standby_remove
  psql -X -q "$PGURL" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null 2>&1 || true
  psql -X -q "$PGURL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  if ((rc == 0)); then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT

# A database with the outbox, its publication and the relay's role (sql/ as a user applies
# it), another table, and the relay's slot. Exports the relay's environment: the relay runs
# as the least-privilege role outbox_relay (RELAY_URL; libpq's default sslmode=prefer takes
# TLS when the server offers it, as the OUTBOX_TLS harness's hostssl lines want). Arguments
# are options of CREATE DATABASE (ENCODING 'LATIN1' ...).
RELAY_PW=outbox_relay
RELAY_URL=$(sed "s#//[^@]*@#//outbox_relay:$RELAY_PW@#" <<<"$DBURL")
setup_db() {
  psql -X -q -v ON_ERROR_STOP=1 "$PGURL" -c "CREATE DATABASE $DB $*" >/dev/null
  sql -f "$ROOT/sql/01_outbox.sql" -f "$ROOT/sql/02_publication.sql" -f "$ROOT/sql/03_relay_role.sql" >/dev/null
  sql -c "ALTER ROLE outbox_relay PASSWORD '$RELAY_PW'"
  sql -c "CREATE TABLE other (id bigserial PRIMARY KEY, note text)"
  sql -c "SELECT pg_create_logical_replication_slot('$SLOT', 'pgoutput')" >/dev/null
  export OUTBOX_RELAY_NAME=relay-$ID
  export OUTBOX_RELAY_POSTGRES_CONNINFO=$RELAY_URL
  export OUTBOX_RELAY_POSTGRES_SLOT=$SLOT
  export OUTBOX_RELAY_POSTGRES_STATUS_INTERVAL_MS=1000
  export OUTBOX_RELAY_KAFKA_BROKERS=$KAFKA_BROKERS
  export OUTBOX_RELAY_KAFKA_CHECKPOINT_TOPIC=it.$ID.checkpoints
  export OUTBOX_RELAY_OUTBOX_TOPIC="it.$ID.\${aggregate_type}"
  export OUTBOX_RELAY_LOG_LEVEL=debug
}

relay_start() { # relay_start [extra args]: background, log appended to $WORK/relay.log; config $RELAY_CONF
  "$RELAY_BIN" run -c "${RELAY_CONF:-$ROOT/etc/outbox-relay.conf}" "$@" >>"$WORK/relay.log" 2>&1 &
  RELAY_PID=$!
}

relay_stop() { # SIGTERM; fails unless the relay exits 0 in time
  local rc=0
  kill -TERM "$RELAY_PID"
  wait "$RELAY_PID" || rc=$?
  RELAY_PID=
  ((rc == 0)) || fail "relay exited $rc after SIGTERM"
}

# hold_foreign_txn TIMEOUT_MS: another transactional producer (a backfill job, another
# relay on the same topic) writes into partition 0 of the checkpoint topic and never
# commits (tests/tools/txn_hold.c); the broker aborts that transaction TIMEOUT_MS later.
# Until then it holds the partition's last stable offset. Kill HOLD_PID when done.
hold_foreign_txn() {
  local deadline=$((SECONDS + 30))
  "$TXN_HOLD_BIN" "$KAFKA_BROKERS" "$OUTBOX_RELAY_KAFKA_CHECKPOINT_TOPIC" "backfill-$ID" "$1" \
    >"$WORK/hold.out" 2>>"$WORK/hold.log" &
  HOLD_PID=$!
  until grep -q holding "$WORK/hold.out"; do
    kill -0 "$HOLD_PID" 2>/dev/null || fail "txn_hold failed: $(cat "$WORK/hold.log")"
    ((SECONDS < deadline)) || fail "txn_hold did not open its transaction in 30 s"
    sleep 0.1
  done
}

# expect CODE PATTERN -- command...: exit code and exactly one error line matching PATTERN;
# the output is left in $WORK/out.
expect() {
  local code=$1 pattern=$2 rc=0
  shift 3
  "$@" >"$WORK/out" 2>&1 || rc=$?
  ((rc == code)) || fail "$*: exit $rc, expected $code: $(tail -3 "$WORK/out")"
  grep -Eq -- "$pattern" "$WORK/out" || fail "$*: no line matching '$pattern' in: $(cat "$WORK/out")"
  local errors
  errors=$(grep -c ' error ' "$WORK/out" || true)
  ((errors <= 1)) || fail "$*: $errors error lines: $(cat "$WORK/out")"
  log "exit $rc: $(grep -E -- "$pattern" "$WORK/out" | head -1 | cut -c1-150)"
}

current_lsn() { sql -c "SELECT pg_current_wal_lsn()"; }

# free_port: a TCP port nothing on 127.0.0.1 listens on now (for servers that cannot be
# given port 0, such as Prometheus).
free_port() {
  local p
  for _ in {1..50}; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  fail "no free port found"
}

# http_address LOG: the address a relay started with http.listen = "127.0.0.1:0" bound,
# from its log (waits up to 30 s for the line).
http_address() {
  local deadline=$((SECONDS + 30)) a
  until a=$(sed -n 's/.*http: \/metrics, \/healthz and \/readyz on \([^ ]*\)$/\1/p' "$1" 2>/dev/null | tail -n 1) && [[ -n $a ]]; do
    ((SECONDS < deadline)) || fail "no http address in $1"
    sleep 0.1
  done
  echo "$a"
}

# wait_http URL STATUS [SECONDS]: until GET URL answers STATUS.
wait_http() {
  local deadline=$((SECONDS + ${3:-30})) code
  while ((SECONDS < deadline)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)
    [[ $code == "$2" ]] && return 0
    sleep 0.2
  done
  fail "$1 answered $code, not $2, for ${3:-30} s"
}

# checkpoint_end: end_lsn of this relay's newest committed checkpoint ("" when none).
checkpoint_end() {
  kcat -b "$KAFKA_BROKERS" -C -t "$OUTBOX_RELAY_KAFKA_CHECKPOINT_TOPIC" -o beginning -e -q \
    -X isolation.level=read_committed -f '%k\t%s\n' 2>/dev/null |
    awk -F'\t' -v k="$OUTBOX_RELAY_NAME" '$1 == k { v = $2 } END { print v }' |
    sed -n 's/.*"end_lsn":"\([0-9A-F]*\/[0-9A-F]*\)".*/\1/p'
}

# The invariant of DESIGN §5: the slot is never ahead of the checkpoint. The slot is
# read first; the checkpoint only grows, so reading it second cannot hide a violation.
check_slot_not_ahead() {
  local slot ckpt
  slot=$(sql -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$SLOT'")
  ckpt=$(checkpoint_end)
  [[ -z $ckpt ]] && ckpt=0/0
  [[ $(sql -c "SELECT '$slot'::pg_lsn <= '$ckpt'::pg_lsn") == t ]] ||
    fail "slot at $slot is ahead of the checkpoint at $ckpt"
}

# wait_confirmed LSN [SECONDS]: until the slot's confirmed_flush_lsn reaches LSN.
wait_confirmed() {
  local target=$1 deadline=$((SECONDS + ${2:-60})) at
  while ((SECONDS < deadline)); do
    at=$(sql -c "SELECT confirmed_flush_lsn >= '$target' FROM pg_replication_slots WHERE slot_name = '$SLOT'")
    [[ $at == t ]] && return 0
    [[ -n $RELAY_PID ]] && ! kill -0 "$RELAY_PID" 2>/dev/null && fail "relay died"
    sleep 0.2
  done
  fail "slot $SLOT did not reach $target (at $(sql -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$SLOT'"))"
}

# consume TOPIC: every committed record, one per line: key TAB headers TAB value.
consume() { read_committed "$1" -f '%k\t%h\t%s\n'; }

# read_committed TOPIC KCAT_ARGS...: every committed record of TOPIC, as kcat prints it. A
# Kafka commit returns before the broker has written its commit markers into every
# partition, and until then a read_committed reader stops short there (kcat -e ends at the
# last stable offset): seen in t_backfill.sh, a partition missing right after a job ended.
# So read again until two reads 0.3 s apart agree.
read_committed() {
  local prev cur tries=0
  cur=$(read_committed_once "$@") || return
  prev=$cur.
  while [[ $cur != "$prev" ]] && ((tries++ < 30)); do
    prev=$cur
    sleep 0.3
    cur=$(read_committed_once "$@") || return
  done
  [[ -z $cur ]] || printf '%s\n' "$cur"
}
read_committed_once() {
  local topic=$1
  shift
  kcat -b "$KAFKA_BROKERS" -C -t "$topic" -o beginning -e -q -X isolation.level=read_committed "$@"
}

# event_ids FILE: the event_id header of each consumed line, in order.
event_ids() {
  awk -F'\t' '{ n = split($2, hs, ","); for (i = 1; i <= n; i++) if (hs[i] ~ /^event_id=/) print substr(hs[i], 10) }' "$1"
}

# verdict RECORDS EXPECTED [--per-key-order]: the records consumed from Kafka (consume's
# lines) against the event ids that should be there exactly once (a file, one id a line,
# any order). Sets
#   LOST        expected ids no record carries
#   DUPLICATED  records carrying an id an earlier record carried
#   UNEXPECTED  records carrying an id not expected, or no event_id at all
#   MISORDERED  with --per-key-order: records whose id is not above the one before of their key
# and writes up to 5 examples of each to $WORK/verdict.problems.
verdict() {
  local out
  : >"$WORK/verdict.problems"
  out=$(awk -F'\t' -v order="${3:-}" -v problems="$WORK/verdict.problems" '
    function problem(kind, what) { if (++shown[kind] <= 5) print kind " " what >problems }
    FILENAME == ARGV[1] { expected[$1] = 1; next }
    { id = ""
      n = split($2, hs, ",")
      for (i = 1; i <= n; i++) if (hs[i] ~ /^event_id=/) id = substr(hs[i], 10)
      if (id == "") { unexpected++; problem("unexpected", "record " FNR " without event_id"); next }
      if (id in seen) { duplicated++; problem("duplicated", id) }
      else if (!(id in expected)) { unexpected++; problem("unexpected", id) }
      seen[id] = 1
      if (order == "--per-key-order" && ($1 in last) && id + 0 <= last[$1]) {
        misordered++; problem("misordered", "in " $1 ": " id " after " last[$1])
      }
      last[$1] = id + 0
    }
    END {
      for (id in expected) if (!(id in seen)) { lost++; problem("lost", id) }
      print lost + 0, duplicated + 0, unexpected + 0, misordered + 0
    }' "$2" "$1")
  read -r LOST DUPLICATED UNEXPECTED MISORDERED <<<"$out"
}

# verdict_ok WHAT: fails, naming WHAT and the examples, unless the last verdict found nothing.
verdict_ok() {
  ((LOST + DUPLICATED + UNEXPECTED + MISORDERED == 0)) ||
    fail "$1: lost=$LOST duplicated=$DUPLICATED unexpected=$UNEXPECTED misordered=$MISORDERED: $(sort -s -k1,1 "$WORK/verdict.problems" | tr '\n' ' ')"
}

# exactly_once WHAT RECORDS EXPECTED [--per-key-order]: verdict, then verdict_ok WHAT.
exactly_once() {
  local what=$1
  shift
  verdict "$@"
  verdict_ok "$what"
}

# audit_ok WHAT ROWS DEAD [audit options]: `outbox-relay audit` over the test's outbox says
# ROWS rows, DEAD of them dead-lettered, every row exactly once and in order (the
# project's own exactly-once check, beside the consumer-side verdict above).
audit_ok() {
  local what=$1 rows=$2 dead=$3 line rc=0
  shift 3
  "$RELAY_BIN" audit -c "$ROOT/etc/outbox-relay.conf" --wait 60 "$@" >"$WORK/audit.out" \
    2>>"$WORK/audit.err" || rc=$?
  line=$(tail -1 "$WORK/audit.out")
  [[ $rc == 0 && $line == "audit rows=$rows published_once=$((rows - dead)) dead_lettered=$dead missing=0 duplicated=0 misordered=0" ]] ||
    fail "$what: audit exited $rc: $line $(head -5 "$WORK/audit.out" | tr '\n' ' ') $(tail -2 "$WORK/audit.err")"
}

# A physical standby of the test server (pg_basebackup -R, streaming), for failover tests:
# standby_create starts it and sets SURL (this test's database on it) and ssql; cleanup
# removes it. Its port is the server's + 17.
STANDBY_DIR=
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
as_pg() { (cd / && runuser -u postgres -- "$@"); }
ssql() { psql -X -q -v ON_ERROR_STOP=1 -At "$SURL" "$@"; }
standby_ctl() { as_pg "$PG_BIN/pg_ctl" -D "$STANDBY_DIR" -l "$STANDBY_DIR/log" -w -t 60 "$@" >/dev/null; }
standby_start() { # standby_start [SERVER OPTIONS]
  local opts="-c port=$STANDBY_PORT -c listen_addresses=127.0.0.1"
  opts+=" -c unix_socket_directories='$STANDBY_DIR' -c wal_level=logical"
  opts+=" -c max_replication_slots=20 -c max_wal_senders=20 ${1:-}"
  standby_ctl -o "$opts" start
}
standby_create() {
  local port lsn deadline
  port=$(sed -E 's#.*:([0-9]+)/[^/]*$#\1#' <<<"$PGURL")
  STANDBY_PORT=$((port + 17))
  STANDBY_DIR=$(mktemp -d /tmp/relay-standby.XXXXXX)
  SURL=${DBURL/:$port\//:$STANDBY_PORT/}
  chown postgres: "$STANDBY_DIR" && chmod 700 "$STANDBY_DIR"
  as_pg env PGPASSWORD=postgres "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$port" -U postgres \
    -D "$STANDBY_DIR" -R -X stream -c fast || fail "pg_basebackup failed"
  standby_start
  lsn=$(current_lsn)
  deadline=$((SECONDS + 60))
  until [[ $(ssql -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'" 2>/dev/null) == t ]]; do
    ((SECONDS < deadline)) || fail "the standby did not catch up to $lsn"
    sleep 0.2
  done
}
standby_stop() { standby_ctl -m fast stop; }
# standby_promote: start it cut off from the server (so it cannot catch up now) and promote.
standby_promote() {
  standby_start "-c primary_conninfo=''"
  standby_ctl promote
  [[ $(ssql -c "SELECT pg_is_in_recovery()") == f ]] || fail "the standby was not promoted"
}
standby_remove() {
  [[ -n $STANDBY_DIR ]] || return 0
  standby_ctl -m immediate stop 2>/dev/null || true
  rm -rf "$STANDBY_DIR"
  STANDBY_DIR=
}
