#!/usr/bin/env bash
# Builds the fuzzers with Debian's clang (libFuzzer + ASan + UBSan) into build-fuzz/ and runs
# each for its share of SECONDS (default 20: half to the schema library, a quarter each to
# the pgoutput decoder and the configuration loader; longer by hand: tests/fuzz/run.sh 3600),
# over working corpora seeded from tests/fuzz/corpus/schema and, when installed, the
# JSON-Schema-Test-Suite; from the pgoutput captures of tests/unit/fixtures; from etc/*.conf.
# Exits non-zero on a crash, a leak, a sanitizer report or a timeout; the input that failed
# is left in build-fuzz/ (crash-*, leak-*, timeout-*).
#   tests/fuzz/run.sh [SECONDS] [libFuzzer options...]
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
SECONDS_TO_RUN=${1:-20}
shift || true
OUT=$ROOT/build-fuzz
SUITE=/usr/share/json-schema-test-suite/tests/draft7
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT"

command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

build() { # build NAME SOURCES... [-- LIBS...]
  local name=$1
  shift
  # shellcheck disable=SC2046
  "$CC" -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -I"$ROOT/relay" \
    "$@" -lm -o "$OUT/$name"
}
build fuzz_schema "$ROOT/tests/fuzz/fuzz_schema.c" "$ROOT"/relay/schema/*.c "$ROOT/relay/jsonread.c" \
  $(pkg-config --cflags --libs jansson libpcre2-8)
build fuzz_pgoutput "$ROOT/tests/fuzz/fuzz_pgoutput.c" "$ROOT/relay/pgoutput.c" "$ROOT/relay/lsn.c"
build fuzz_config "$ROOT/tests/fuzz/fuzz_config.c" "$ROOT/relay/config.c" "$ROOT/relay/config_fields.c" "$ROOT/relay/tables.c" "$ROOT/relay/log.c" \
  $(pkg-config --cflags --libs libconfig)

# Seeds. Schema: the corpus, and the conformance suite's cases (flags byte 0x01: draft-07,
# schema, NUL, document). pgoutput: each captured step, and the whole capture as one session
# (2-byte length before each message). Config: the example files.
mkdir -p "$OUT/corpus-schema" "$OUT/corpus-pgoutput" "$OUT/corpus-config"
cp -n "$ROOT"/tests/fuzz/corpus/schema/* "$OUT/corpus-schema/"
if [[ -d $SUITE && ! -e $OUT/corpus-schema/.suite-seeded ]] && command -v jq >/dev/null; then
  n=0
  for f in "$SUITE"/*.json; do
    while IFS= read -r schema && IFS= read -r doc; do
      printf '\x01%s\0%s' "$schema" "$doc" >"$OUT/corpus-schema/suite-$((n++))"
    done < <(jq -c '.[] | .schema as $s | .tests[] | ($s, .data)' "$f")
  done
  touch "$OUT/corpus-schema/.suite-seeded"
fi
if [[ ! -e $OUT/corpus-pgoutput/.seeded ]]; then
  perl -ne 'next if /^#/ || !/^(\S+?)\.\S+ ([0-9a-f]+)$/; my ($step, $m) = ($1, pack("H*", $2));
            $s{$step} .= pack("n", length $m) . $m; $all .= pack("n", length $m) . $m;
            END { for (keys %s) { open F, ">", "'"$OUT"'/corpus-pgoutput/$_"; print F $s{$_}; close F }
                  open F, ">", "'"$OUT"'/corpus-pgoutput/all"; print F $all; close F }' \
    "$ROOT/tests/unit/fixtures/pgoutput.txt"
  touch "$OUT/corpus-pgoutput/.seeded"
fi
cp -n "$ROOT"/etc/*.conf "$OUT/corpus-config/"

cd "$OUT"
run() { # run NAME SECONDS MAX_LEN WHAT
  local name=$1 secs=$2 max_len=$3
  echo "fuzz: $4 for ${secs}s over $(find "corpus-${name#fuzz_}" -type f ! -name '.*' | wc -l) inputs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0 \
    "./$name" "corpus-${name#fuzz_}" -max_total_time="$secs" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 "${@:5}" 2>"$OUT/$name.log" || {
    local rc=$?
    tail -60 "$OUT/$name.log" >&2
    echo "fuzz: FAILED (exit $rc); reproduce with build-fuzz/$name <input above>" >&2
    exit 1
  }
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$OUT/$name.log" | tr '\n' ' '
  echo
}
quarter=$((SECONDS_TO_RUN / 4 > 0 ? SECONDS_TO_RUN / 4 : 1))
run fuzz_schema $((SECONDS_TO_RUN - 2 * quarter)) 4096 "schema compile + validate" "$@"
run fuzz_pgoutput "$quarter" 8192 "pgoutput decoder" "$@"
run fuzz_config "$quarter" 4096 "configuration loader" "$@"
rm -f /tmp/fuzz_config.*.conf
echo "fuzz: OK"
