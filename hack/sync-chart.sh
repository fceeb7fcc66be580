#!/usr/bin/env bash
# sync-chart.sh keeps the Helm chart in step with what is generated elsewhere, so it can never
# drift (hack/verify.sh fails on a stale copy):
#   - the CRDs of config/crd/bases, as templates behind crds.enabled, kept on uninstall when
#     crds.keep;
#   - the manager's RBAC rules of config/rbac/role.yaml;
#   - the default image of hack/IMAGE (the one value the chart, the operator's flag and the
#     Makefile share).
set -euo pipefail
cd "$(dirname "$0")/.."
chart=charts/latch
[ -d "$chart/templates" ] || exit 0

mkdir -p "$chart/templates/crds" "$chart/files"
rm -f "$chart"/templates/crds/*.yaml
for f in config/crd/bases/*.yaml; do
  name="$(basename "$f")"
  {
    echo '{{- if .Values.crds.enabled }}'
    sed -e '/^  annotations:$/a\    {{- if .Values.crds.keep }}\n    helm.sh/resource-policy: keep\n    {{- end }}' "$f"
    echo '{{- end }}'
  } > "$chart/templates/crds/$name"
done

cp config/rbac/role.yaml "$chart/files/manager-role.yaml"

image="$(tr -d '[:space:]' < hack/IMAGE)"
repo="${image%:*}"; tag="${image##*:}"
sed -i -E "0,/^  repository: .*/s##  repository: ${repo}#; 0,/^  tag: .*/s##  tag: ${tag}#" "$chart/values.yaml"
sed -i -E "s/^appVersion: .*/appVersion: \"${tag}\"/" "$chart/Chart.yaml"
