# shellcheck shell=bash
# Playing the kubelet for tests/deploy (t_job.sh, t_kubelet.sh): a deploy/k8s overlay is
# rendered under a test overlay (what a user's overlay sets per environment: the Secret,
# the brokers, the names), and a pod becomes a podman container with exactly the rendered
# image, args, env (Secret values resolved), ConfigMap files mounted at the volumeMounts,
# user, read-only root, dropped capabilities, no-new-privileges and memory limit; a stop is
# SIGTERM, then SIGKILL after terminationGracePeriodSeconds. Sourced after tests/lib.sh.
# shellcheck source=deploy/container/podman.sh
source "$ROOT/deploy/container/podman.sh"

TOOLS=$ROOT/.local/tools
YQ_VERSION=v4.44.3
"$ROOT/tests/deploy/t_k8s.sh" >/dev/null 2>&1 || fail "tests/deploy/t_k8s.sh (kustomize, kubernetes-validate) failed"
if [[ ! -x $TOOLS/bin/yq ]]; then
  log "building yq $YQ_VERSION"
  GOBIN=$TOOLS/bin go install "github.com/mikefarah/yq/v4@$YQ_VERSION" >&2
fi
PODS_RUNNING=()
rm_pods() {
  local pod
  for pod in "${PODS_RUNNING[@]}"; do pm rm -f -t 0 "$pod" >/dev/null 2>&1 || true; done
}
# Without errexit (a failing command would end the trap early), with the test's status kept
# for cleanup.
trap 'rc=$?; set +e; rm_pods; (exit $rc); cleanup' EXIT

"$ROOT/deploy/container/build.sh" "$IMAGE" >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log" >&2; fail "build.sh failed"; }
IMAGE_NAME=${IMAGE%:*}
IMAGE_TAG=${IMAGE##*:}

# render NAME OVERLAY KIND [LIST/]CONTAINER [YAML...] [-- KEY=VALUE...]: deploy/k8s/OVERLAY
# under a test overlay with the Secret outbox-relay (conninfo: this test's database) and a
# strategic merge patch of the KIND's container CONTAINER (in LIST: containers, or
# initContainers for a sidecar): the YAML lines (e.g. "args: [...]") and env entries (merged
# by name) for this test's relay name, brokers and checkpoint topic plus KEY=VALUE. A
# second patch may come in $EXTRA_PATCH. The objects, as JSON one a line, go to
# $WORK/NAME.json (of KIND, only the object with CONTAINER).
render() {
  local name=$1 overlay=$2 kind=$3 container=${4#*/} list=containers dir=$WORK/$1 kv obj api mine
  [[ $4 == */* ]] && list=${4%%/*}
  shift 4
  local -a lines=()
  while (($#)) && [[ $1 != -- ]]; do lines+=("$1"); shift; done
  (($#)) && shift
  local -A env=([OUTBOX_RELAY_NAME]=relay-$ID [OUTBOX_RELAY_KAFKA_BROKERS]=$KAFKA_BROKERS
    [OUTBOX_RELAY_KAFKA_CHECKPOINT_TOPIC]=it.$ID.checkpoints)
  for kv in "$@"; do env[${kv%%=*}]=${kv#*=}; done
  # The object of that kind with that container (the jobs overlay holds several Jobs).
  mine="select(.kind == \"$kind\" and ([.spec.template.spec.$list[].name] | contains([\"$container\"])))"
  obj=$("$TOOLS/bin/kustomize" build "$ROOT/deploy/k8s/$overlay" | "$TOOLS/bin/yq" "$mine")
  api=$("$TOOLS/bin/yq" '.apiVersion' <<<"$obj")
  mkdir -p "$dir"
  {
    echo "resources: [$(realpath --relative-to="$dir" "$ROOT/deploy/k8s/$overlay")]"
    echo "secretGenerator: [{name: outbox-relay, literals: ['conninfo=$DBURL']}]"
    echo "images: [{name: localhost/outbox-relay, newName: $IMAGE_NAME, newTag: '$IMAGE_TAG'}]"
    echo "patches: [{path: patch.yaml}${EXTRA_PATCH:+, {path: extra.yaml\}}]"
  } >"$dir/kustomization.yaml"
  {
    echo "apiVersion: $api"
    echo "kind: $kind"
    echo "metadata: {name: $("$TOOLS/bin/yq" '.metadata.name' <<<"$obj")}"
    echo "spec: {template: {spec: {$list: [{"
    echo "  name: $container,"
    for kv in "${lines[@]}"; do echo "  $kv,"; done
    echo "  env: ["
    for kv in "${!env[@]}"; do echo "    {name: $kv, value: '${env[$kv]}'},"; done
    echo "]}]}}}"
  } >"$dir/patch.yaml"
  [[ -z ${EXTRA_PATCH:-} ]] || printf '%s\n' "$EXTRA_PATCH" >"$dir/extra.yaml"
  "$TOOLS/bin/kustomize" build "$dir" |
    "$TOOLS/bin/yq" -o=json -I=0 "(select(.kind != \"$kind\")), ($mine)" >"$WORK/$name.json" ||
    fail "rendering $name"
}
doc() { jq -c "select(.kind == \"$2\" and .metadata.name == \"$3\")" "$WORK/$1.json"; } # doc NAME KIND NAME

# pod_args NAME KIND [ENV=VALUE...]: podman run arguments (in ARGS) for a pod of the KIND's
# template, for the container at $POD_CONTAINER (jq; its first by default; its name in
# CONTAINER_NAME); GRACE is the pod's termination grace period.
# ENV=VALUE adds what a pod's own network namespace would make unnecessary (a port).
pod_args() {
  local name=$1 kind=$2 obj spec c v sc n val ref mount vol cm dir
  shift 2
  obj=$(jq -c "select(.kind == \"$kind\")" "$WORK/$name.json")
  spec=$(jq -c '.spec.template.spec' <<<"$obj")
  c=$(jq -c "${POD_CONTAINER:-.containers[0]}" <<<"$spec")
  GRACE=$(jq -r '.terminationGracePeriodSeconds // 30' <<<"$spec")
  ARGS=(--network host --stop-timeout "$GRACE")
  # The security context: the container's settings over the pod's.
  sc=$(jq -c '(.securityContext // {}) as $p | ($p + ($c.securityContext // {}))' --argjson c "$c" <<<"$spec")
  v=$(jq -r 'if .runAsUser then "\(.runAsUser):\(.runAsGroup // .runAsUser)" else empty end' <<<"$sc")
  [[ -z $v ]] || ARGS+=(--user "$v")
  [[ $(jq -r '.readOnlyRootFilesystem' <<<"$sc") == true ]] && ARGS+=(--read-only)
  [[ $(jq -r '.allowPrivilegeEscalation' <<<"$sc") == false ]] && ARGS+=(--security-opt no-new-privileges)
  jq -e '.capabilities.drop | index("ALL")' <<<"$sc" >/dev/null && ARGS+=(--cap-drop all)
  v=$(jq -r '.resources.limits.memory // empty' <<<"$c")
  [[ -n $v ]] && ARGS+=(--memory "$(sed 's/Mi$/m/; s/Gi$/g/' <<<"$v")")
  # env: values, or resolved from the rendered Secret.
  while IFS=$'\x1f' read -r n val ref; do # not a tab: an empty value would vanish
    if [[ $ref == secret:* ]]; then
      ref=${ref#secret:}
      val=$(doc "$name" Secret "${ref%%/*}" | jq -r --arg k "${ref#*/}" '.data[$k]' | base64 -d)
    fi
    ARGS+=(-e "$n=$val")
  done < <(jq -r '(.env // [])[] | [.name, (.value // ""),
      (if .valueFrom.secretKeyRef then "secret:" + .valueFrom.secretKeyRef.name + "/" + .valueFrom.secretKeyRef.key else "" end)] | join("\u001f")' <<<"$c")
  for v in "$@"; do ARGS+=(-e "$v"); done
  # volumeMounts of ConfigMap volumes: the ConfigMap's files in a directory, mounted read-only.
  while IFS=$'\t' read -r mount vol; do
    cm=$(jq -r --arg v "$vol" '.volumes[] | select(.name == $v) | .configMap.name' <<<"$spec")
    dir=$WORK/$name.cm.$cm
    mkdir -p "$dir"
    doc "$name" ConfigMap "$cm" | jq -r '.data | keys[]' | while read -r k; do
      doc "$name" ConfigMap "$cm" | jq -r --arg k "$k" '.data[$k]' >"$dir/$k"
    done
    chmod -R a+rX "$dir"
    ARGS+=(-v "$dir:$mount:ro")
  done < <(jq -r '(.volumeMounts // [])[] | [.mountPath, .name] | @tsv' <<<"$c")
  v=$(jq -r '.command[0] // empty' <<<"$c")
  [[ -z $v ]] || ARGS+=(--entrypoint "$v")
  ARGS+=("$(jq -r '.image' <<<"$c")")
  mapfile -t -O "${#ARGS[@]}" ARGS < <(jq -r '(.command // [])[1:][], (.args // [])[]' <<<"$c")
  CONTAINER_NAME=$(jq -r '.name' <<<"$c")
}
