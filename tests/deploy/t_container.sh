#!/usr/bin/env bash
# The image as a user runs it: deploy/container/build.sh builds it (base images made here
# when missing), `--version` and `check` run in it, then the relay container — configured
# only by environment variables and a mounted config file, read-only root, no capabilities,
# its image's non-root user — relays 10,000 rows (a backlog, then live) to exactly 10,000
# records; `podman stop -t 30` ends it with exit 0 and the slot confirmed to the end.
# Needs the local servers (tests/run.sh starts them) and podman (build.sh installs it).
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=deploy/container/podman.sh
source "$ROOT/deploy/container/podman.sh"

CONTAINER=relay-$ID
# Without errexit (a failing command would end the trap early), the test's status kept.
trap 'rc=$?; set +e; pm rm -f -t 0 "$CONTAINER" >/dev/null 2>&1; (exit $rc); cleanup' EXIT

t0=$SECONDS
"$ROOT/deploy/container/build.sh" "$IMAGE" >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log" >&2; fail "build.sh failed"; }
size=$(pm image inspect --format '{{.Size}}' "$IMAGE")
log "built $IMAGE in $((SECONDS - t0)) s, $((size / 1000000)) MB"
[[ $(pm image inspect --format '{{.Config.User}}' "$IMAGE") == 10001:10001 ]] || fail "the image does not run as uid 10001"

out=$(pm run --rm "$IMAGE" --version) || fail "--version in the container failed"
[[ $out == "outbox-relay $(sed -n 's/^project(outbox-relay VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")" ]] ||
  fail "--version printed '$out'"

setup_db
insert() { # insert ROWS: in transactions of cycling sizes, every fourth one also rolled back
  sql -c "
DO \$\$
DECLARE sizes int[] := ARRAY[1, 7, 230, 1, 45, 900]; done int := 0; i int := 0; n int;
BEGIN
  WHILE done < $1 LOOP
    n := least(sizes[1 + i % array_length(sizes, 1)], $1 - done);
    INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
      SELECT 'order', 'agg-' || (g % 23), 'OrderCreated', jsonb_build_object('n', g) FROM generate_series(1, n) g;
    COMMIT;
    done := done + n;
    IF i % 4 = 0 THEN
      INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'x', 'Never', '{}');
      ROLLBACK;
    END IF;
    i := i + 1;
  END LOOP;
END \$\$"
}
# The relay's settings: this test's OUTBOX_RELAY_* variables (setup_db), passed by name,
# and the repository's etc/outbox-relay.conf mounted where the image's CMD reads it.
run_args=(--network host --read-only --cap-drop all --security-opt no-new-privileges
  -v "$ROOT/etc/outbox-relay.conf:/etc/outbox-relay/outbox-relay.conf:ro")
for v in ${!OUTBOX_RELAY_@}; do run_args+=(-e "$v"); done
export OUTBOX_RELAY_LOG_LEVEL=info

pm run --rm "${run_args[@]}" "$IMAGE" check -c /etc/outbox-relay/outbox-relay.conf >"$WORK/check.out" 2>&1 ||
  { cat "$WORK/check.out" >&2; fail "check in the container failed"; }
grep -q FAIL "$WORK/check.out" && fail "check printed FAIL"
log "check in the container: $(grep -c '^OK' "$WORK/check.out") OK lines"

insert 6000
pm run -d --name "$CONTAINER" "${run_args[@]}" "$IMAGE" >/dev/null
insert 3000
wait_confirmed "$(current_lsn)" 120
insert 999 # in flight when the stop comes, and a last row whose transaction's WAL
# position is read inside it: its commit ends after that. (The end of WAL after it may hold
# more, e.g. autovacuum's, which the relay need not confirm before it stops.)
end=$(sql <<'SQL'
BEGIN;
INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'agg-last', 'OrderCreated', '{}');
SELECT pg_current_wal_insert_lsn();
COMMIT;
SQL
)
pid=$(pm inspect --format '{{.State.Pid}}' "$CONTAINER")
rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
log "the relay's peak RSS in the container: $((rss_kb / 1024)) MB"
t0=$SECONDS
pm stop -t 30 "$CONTAINER" >/dev/null
rc=$(pm inspect --format '{{.State.ExitCode}}' "$CONTAINER")
pm logs "$CONTAINER" >"$WORK/relay.log" 2>&1
((rc == 0)) || fail "the relay container exited $rc after podman stop"
log "podman stop -t 30: exit 0 after $((SECONDS - t0)) s"
[[ $(sql -c "SELECT confirmed_flush_lsn > '$end' FROM pg_replication_slots WHERE slot_name = '$SLOT'") == t ]] ||
  fail "after the stop the slot is at $(sql -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$SLOT'"), not past the last row's commit (after $end)"
check_slot_not_ahead

consume "it.$ID.order" >"$WORK/records"
sql -c "SELECT id FROM outbox" >"$WORK/expected"
(($(wc -l <"$WORK/expected") == 10000)) || fail "expected 10000 rows in the outbox"
exactly_once "the relay container" "$WORK/records" "$WORK/expected" --per-key-order
log "ok: 10000 rows -> $(wc -l <"$WORK/records") records, exactly once; stopped with exit 0, slot confirmed"
