#!/usr/bin/env bash
# Renders every Kustomize overlay under deploy/kubernetes/overlays and validates each
# rendered document, and the example Secret, offline against the Kubernetes API schemas:
# strict (an unknown field fails), for the oldest and the newest Kubernetes the manifests
# are meant for. A kind without a schema fails too, since nothing would have checked it.
# The pinned tools (scripts/requirements-kubernetes.txt) live in a virtualenv that outlives
# the clone; it is rebuilt only when that file changes.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${PLATFORM_KUBERNETES_VENV:-$HOME/.cache/platform-kubernetes-venv}"
REQS=scripts/requirements-kubernetes.txt
VERSIONS=(1.30.0 1.37.0)

if [ ! -x "$VENV/bin/kubernetes-validate" ] || [ ! -x "$VENV/bin/kubectl" ] \
  || ! cmp -s "$REQS" "$VENV/.requirements"; then
  echo "installing the Kubernetes tools into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
  cp "$REQS" "$VENV/.requirements"
fi

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
overlays=()
for dir in deploy/kubernetes/overlays/*/; do
  name=$(basename "$dir")
  overlays+=("$name")
  "$VENV/bin/kubectl" kustomize "$dir" >"$rendered/$name.yaml"
done
cp deploy/kubernetes/secret.example.yaml "$rendered/"

failed=0
for version in "${VERSIONS[@]}"; do
  # --quiet prints only failures and warnings (a kind it has no schema for).
  report=$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$rendered"/*.yaml 2>&1) \
    || failed=1
  if [ -n "$report" ]; then
    printf '%s\n' "$report" | sed "s|$rendered/||g" >&2
    failed=1
  fi
done
documents=$(cat "$rendered"/*.yaml | grep -c '^kind:' || true)
if [ "$failed" -ne 0 ]; then
  echo "error: the Kubernetes manifests do not validate (overlays: ${overlays[*]})" >&2
  exit 1
fi
echo "kubernetes: $documents documents (overlays: ${overlays[*]}; secret.example.yaml) valid against ${VERSIONS[*]}"
