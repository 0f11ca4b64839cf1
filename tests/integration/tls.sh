# shellcheck shell=bash
# The secure setup for the t_tls_*.sh tests: the servers with OUTBOX_TLS=1 (deploy/local/up.sh
# turns it on, restarting Kafka when needed), this test's database with the least-privilege
# role of sql/03_relay_role.sql, and conninfo strings for it.
# shellcheck source=tests/integration/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

eval "$(OUTBOX_TLS=1 "$ROOT/deploy/local/up.sh" 2>"$WORK/up.log")" ||
  fail "OUTBOX_TLS=1 deploy/local/up.sh failed: $(tail -5 "$WORK/up.log")"
TLS=$OUTBOX_TLS_DIR
PG_PORT=$(sed -E 's#.*:([0-9]+)/[^/]*$#\1#' <<<"$PGURL")
PG_ROLE_PW=Rel4yPw$RANDOM$RANDOM # outbox_relay's password, set by setup_tls_db
# shellcheck disable=SC2034 # used by the t_tls_* tests
KEY_PASS=key-Secret-9            # the client key's passphrase (deploy/local/lib.sh)
CERT_ROLE=outbox_relay_cert      # the client certificate's CN

# setup_tls_db: setup_db, then sql/03_relay_role.sql and a role for the client certificate
# with the same rights; the relay's conninfo is $SECURE_CONNINFO (verify-full, password).
setup_tls_db() {
  setup_db
  sql -f "$ROOT/sql/03_relay_role.sql" >/dev/null
  sql -c "ALTER ROLE outbox_relay PASSWORD '$PG_ROLE_PW'"
  sql -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$CERT_ROLE') THEN
            CREATE ROLE $CERT_ROLE LOGIN REPLICATION; END IF; END \$\$"
  sql -c "GRANT CONNECT ON DATABASE $DB TO $CERT_ROLE; GRANT USAGE ON SCHEMA public TO $CERT_ROLE;
          GRANT SELECT ON public.outbox TO $CERT_ROLE"
  SECURE_CONNINFO=$(pg_conninfo localhost outbox_relay "password=$PG_ROLE_PW")
  export OUTBOX_RELAY_POSTGRES_CONNINFO=$SECURE_CONNINFO
}

# pg_conninfo HOST USER [MORE]: key/value conninfo for this test's database, verify-full
# against the local CA.
pg_conninfo() {
  printf 'host=%s hostaddr=127.0.0.1 port=%s dbname=%s user=%s sslmode=verify-full sslrootcert=%s %s' \
    "$1" "$PG_PORT" "$DB" "$2" "$TLS/ca.crt" "${3:-}"
}

# other_ca DIR: a CA that signed nothing the servers use, as DIR/ca.crt.
other_ca() {
  mkdir -p "$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=some other CA" -keyout "$1/ca.key" -out "$1/ca.crt" 2>/dev/null || fail "openssl failed"
}

# insert_events N: N OrderCreated rows; prints their ids, one a line.
insert_events() {
  sql -c "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
          SELECT 'order', 'k' || g, 'OrderCreated', jsonb_build_object('n', g)
          FROM generate_series(1, $1) g RETURNING id"
}
