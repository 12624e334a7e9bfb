#!/usr/bin/env bash
# Renders every kustomization (base and overlays) with `kubectl kustomize` and validates each
# rendered object offline against the Kubernetes schemas (PyPI kubernetes-validate).
# Fails on any error.  Needs: kubectl (Debian package), kubernetes-validate (pip).
set -euo pipefail
cd "$(dirname "$0")/kubernetes"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for dir in base overlays/*/ jobs/*/; do
  dir=${dir%/}
  name=$(echo "$dir" | tr '/' '-')
  kubectl kustomize "$dir" > "$out/$name.yaml"
  echo "rendered $dir: $(grep -c '^kind:' "$out/$name.yaml") objects"
  if ! kubernetes-validate --strict "$out/$name.yaml" > "$out/$name.log" 2>&1 || grep -qE '^(ERROR|WARN)' "$out/$name.log"; then
    cat "$out/$name.log"
    status=1
  fi
done
[ "$status" = 0 ] && echo "all manifests valid"
exit "$status"
