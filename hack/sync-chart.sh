#!/usr/bin/env bash
# sync-chart.sh copies the generated CRDs and RBAC rules into the Helm chart, so the chart can
# never drift from config/ (hack/verify.sh fails on a stale copy).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d charts/latch/templates ] || exit 0
mkdir -p charts/latch/templates/crds
for f in config/crd/bases/*.yaml; do
  name="$(basename "$f")"
  {
    echo '{{- if .Values.crds.enabled }}'
    # Helm renders the CRD as a template so crds.keep can annotate it.
    sed -e '/^  annotations:$/a\    {{- if .Values.crds.keep }}\n    helm.sh/resource-policy: keep\n    {{- end }}' "$f"
    echo '{{- end }}'
  } > "charts/latch/templates/crds/$name"
done
