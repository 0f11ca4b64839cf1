#!/usr/bin/env bash
# The deployment tests (README "Deploying"), each against what a user takes from deploy/:
#   t_container.sh   the image built from nothing (or podman's cache), run against the
#                    local servers: 10,000 rows exactly once, podman stop -> exit 0
#   t_k8s.sh         every kustomize overlay rendered and validated for the Kubernetes
#                    versions the README names
#   t_job.sh         the backfill Job run as Kubernetes would (podman as the kubelet, this
#                    script as the Job controller): a drain continues exactly once, the
#                    podFailurePolicy fails at once on 78 and counts 69 to backoffLimit
#   t_kubelet.sh     the Deployment's two replicas run kubelet-style, probes polled and acted
#                    on: one streams, one stands by and takes over when the first is deleted
# (The systemd unit's checks are ctest tests: deploy.systemd_unit, integration.systemd_notify.)
# Starts the local servers when they are not running. Ends with "N passed, N failed".
#
#   tests/deploy/run.sh [TEST...]
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$ROOT"
eval "$(deploy/local/up.sh)"
export PGURL KAFKA_BROKERS

tests=("$@")
if ((${#tests[@]} == 0)); then
  tests=(tests/deploy/t_container.sh tests/deploy/t_k8s.sh tests/deploy/t_job.sh)
  # The Deployment run kubelet-style polls the HTTP probes (/healthz, /readyz): once the
  # relay has them (the setting http.listen).
  grep -q '"http.listen"' relay/config.c && tests+=(tests/deploy/t_kubelet.sh)
fi
passed=0 failed=0
for t in "${tests[@]}"; do
  t0=$SECONDS
  if bash "$t"; then
    passed=$((passed + 1))
    echo "deploy: PASS $t ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    echo "deploy: FAIL $t ($((SECONDS - t0)) s)"
  fi
done
echo "deploy: $passed passed, $failed failed"
((failed == 0))
