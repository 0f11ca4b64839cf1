#!/usr/bin/env bash
# The Kubernetes manifests as a cluster would take them: every overlay of deploy/k8s/
# renders with kustomize and its objects validate strictly (no unknown field, every
# required one) against the schemas of each Kubernetes version the README names. Tools,
# installed under .local/tools/ when missing: kustomize (Go module
# sigs.k8s.io/kustomize/kustomize/v5, built with the machine's Go) and kubernetes-validate
# (PyPI, in a venv; its schemas are bundled, no network at validation).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
TOOLS=$ROOT/.local/tools
KUSTOMIZE_VERSION=v5.8.1
VALIDATE_VERSION=1.37.0
K8S_VERSIONS=(1.29 1.30 1.31 1.32 1.33 1.34 1.35) # README "Deploying"
OVERLAYS=(sidecar deployment jobs)
WORK=$(mktemp -d /tmp/relay-k8s.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
log() { printf '[k8s %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

if [[ ! -x $TOOLS/bin/kustomize ]]; then
  command -v go >/dev/null || fail "go is needed to build kustomize (or put kustomize in $TOOLS/bin)"
  log "building kustomize $KUSTOMIZE_VERSION"
  GOBIN=$TOOLS/bin go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
fi
if [[ ! -x $TOOLS/venv/bin/kubernetes-validate ]]; then
  log "installing kubernetes-validate $VALIDATE_VERSION"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q "kubernetes-validate==$VALIDATE_VERSION" >&2
fi

for o in "${OVERLAYS[@]}"; do
  "$TOOLS/bin/kustomize" build "$ROOT/deploy/k8s/$o" >"$WORK/$o.yaml" || fail "kustomize build deploy/k8s/$o"
  for v in "${K8S_VERSIONS[@]}"; do
    "$TOOLS/venv/bin/kubernetes-validate" --strict --quiet -k "$v" "$WORK/$o.yaml" >"$WORK/out" 2>&1 ||
      fail "deploy/k8s/$o on Kubernetes $v: $(cat "$WORK/out")"
  done
  # What the overlays promise beyond the schema (README "Deploying").
  grep -q 'image: localhost/outbox-relay:0.1.0' "$WORK/$o.yaml" || fail "$o: the relay's image is not set"
  grep -q 'name: outbox-relay-config-[a-z0-9]*$' "$WORK/$o.yaml" || fail "$o: no ConfigMap from etc/"
  grep -q 'mountPath: /etc/outbox-relay$' "$WORK/$o.yaml" || fail "$o: the config is not mounted"
  for want in 'readOnlyRootFilesystem: true' 'allowPrivilegeEscalation: false' '- ALL' \
    'type: RuntimeDefault' 'runAsUser: 10001' 'terminationGracePeriodSeconds: 60'; do
    grep -q -- "$want" "$WORK/$o.yaml" || fail "$o: no $want"
  done
  log "deploy/k8s/$o: $(grep -c '^kind:' "$WORK/$o.yaml") objects, valid on Kubernetes ${K8S_VERSIONS[0]}-${K8S_VERSIONS[-1]}"
done
# A container's own restartPolicy (8 spaces in; a pod's would be 6) exists only on a native
# sidecar.
grep -q '^        restartPolicy: Always$' "$WORK/sidecar.yaml" || fail "sidecar: the relay is not a native sidecar"
grep -q 'kind: PodDisruptionBudget' "$WORK/deployment.yaml" || fail "deployment: no PodDisruptionBudget"
grep -q 'topologyKey: kubernetes.io/hostname' "$WORK/deployment.yaml" || fail "deployment: no spread over nodes"
tr -d ' \n' <"$WORK/jobs.yaml" | grep -q -- '-action:FailJobonExitCodes:containerName:backfilloperator:Invalues:-64-65-77-78-79-action:IgnoreonExitCodes:containerName:backfilloperator:Invalues:-81' ||
  fail "jobs: the backfill's podFailurePolicy is not FailJob on 64 65 77 78 79, Ignore on 81"
grep -q 'kind: CronJob' "$WORK/jobs.yaml" || fail "jobs: no prune CronJob"
log "ok: ${#OVERLAYS[@]} overlays, Kubernetes ${K8S_VERSIONS[*]}"
