# shellcheck shell=bash
# The server tests' helpers are shared with tests/fault: tests/lib.sh.
# shellcheck source=tests/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib.sh"
