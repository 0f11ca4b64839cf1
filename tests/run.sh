#!/usr/bin/env bash
# The test command (README, .ci/run): starts the local Postgres and Kafka if they are not
# running, builds the relay twice — with ASan+UBSan and normally, both with the crash
# points the fault tests arm — and runs the unit and server tests against the real
# servers with each build; the release build also runs the core tests on the other
# Postgres majors and Kafka 3.9 (tests/versions/run.sh). Ends with ctest's summary.
#
#   tests/run.sh            everything
#   tests/run.sh -L unit    only what ctest selects (arguments go to ctest)
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

# With the secure setup (README "Security") the t_tls_* tests need; the others use the
# plaintext listener and Postgres's host lines as before.
export OUTBOX_TLS=${OUTBOX_TLS:-1}
eval "$(deploy/local/up.sh)"
export PGURL KAFKA_BROKERS

jobs=$(nproc 2>/dev/null || echo 2)

build() { # build DIR [cmake args...]
  local dir=$1
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$jobs" >/dev/null
}

echo "== sanitizer build (ASan + UBSan)"
build build-asan -DRELAY_SANITIZE=ON -DRELAY_FAILPOINTS=ON
# librdkafka and libpq keep a few process-lifetime allocations; the suppressions name them.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
  LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -LE versions "$@"

# The fuzzers (libFuzzer, clang: schema library, pgoutput decoder, configuration loader):
# briefly, on every full run; longer by hand with tests/fuzz/run.sh SECONDS. Skipped when
# ctest arguments select tests.
if (($# == 0)); then
  echo "== fuzz: schema, pgoutput, config (${RELAY_FUZZ_SECONDS:-20} s)"
  tests/fuzz/run.sh "${RELAY_FUZZ_SECONDS:-20}"
fi

# The deployment tests (tests/deploy/run.sh): the image built and run with podman, the
# Kubernetes manifests validated. Skipped when ctest arguments select tests, or with
# RELAY_DEPLOY_TESTS=0; a failure fails the run after the release build's tests.
deploy_rc=0
if (($# == 0)) && [[ ${RELAY_DEPLOY_TESTS:-1} != 0 ]]; then
  echo "== deploy: container image, Kubernetes manifests"
  tests/deploy/run.sh || deploy_rc=$?
fi

echo "== release build"
build build -DRELAY_FAILPOINTS=ON
ctest --test-dir build --output-on-failure "$@"
exit $deploy_rc
