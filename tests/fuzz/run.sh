#!/usr/bin/env bash
# Builds the schema fuzzer with Debian's clang (libFuzzer + ASan + UBSan) into build-fuzz/
# and runs it for SECONDS (default 20; longer by hand: tests/fuzz/run.sh 3600) over a
# working corpus seeded from tests/fuzz/corpus/schema and, when installed, the
# JSON-Schema-Test-Suite. Exits non-zero on a crash, a leak, a sanitizer report or a
# timeout; the input that failed is left in build-fuzz/ (crash-*, leak-*, timeout-*).
#   tests/fuzz/run.sh [SECONDS] [libFuzzer options...]
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
SECONDS_TO_RUN=${1:-20}
shift || true
OUT=$ROOT/build-fuzz
CORPUS=$OUT/corpus-schema
SUITE=/usr/share/json-schema-test-suite/tests/draft7
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT" "$CORPUS"

command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
# shellcheck disable=SC2046
"$CC" -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -I"$ROOT/relay" \
  "$ROOT/tests/fuzz/fuzz_schema.c" "$ROOT"/relay/schema/*.c "$ROOT/relay/jsonread.c" \
  $(pkg-config --cflags --libs jansson libpcre2-8) -lm -o "$OUT/fuzz_schema"

cp -n "$ROOT"/tests/fuzz/corpus/schema/* "$CORPUS/"
# The conformance suite's cases make good seeds: flags byte (0x01: draft-07), schema, NUL,
# document. Written once; the corpus then grows by itself.
if [[ -d $SUITE && ! -e $CORPUS/.suite-seeded ]] && command -v jq >/dev/null; then
  n=0
  for f in "$SUITE"/*.json; do
    while IFS= read -r schema && IFS= read -r doc; do
      printf '\x01%s\0%s' "$schema" "$doc" >"$CORPUS/suite-$((n++))"
    done < <(jq -c '.[] | .schema as $s | .tests[] | ($s, .data)' "$f")
  done
  touch "$CORPUS/.suite-seeded"
fi

echo "fuzz: schema compile + validate for ${SECONDS_TO_RUN}s over $(find "$CORPUS" -type f ! -name '.*' | wc -l) inputs"
cd "$OUT"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ./fuzz_schema "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 "$@" 2>"$OUT/fuzz.log" || {
  rc=$?
  tail -60 "$OUT/fuzz.log" >&2
  echo "fuzz: FAILED (exit $rc); reproduce with build-fuzz/fuzz_schema <input above>" >&2
  exit 1
}
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$OUT/fuzz.log" | tr '\n' ' '
echo
echo "fuzz: OK"
