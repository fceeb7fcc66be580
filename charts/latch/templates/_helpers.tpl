{{- define "latch.name" -}}latch-operator{{- end -}}

{{- define "latch.fullname" -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "latch.labels" -}}
app.kubernetes.io/name: {{ include "latch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: latch
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "latch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "latch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- /*
latch.metricsPort is the manager's metrics port: 8443 for HTTPS (metrics.secure), 8080 for
plain HTTP.
*/ -}}
{{- define "latch.metricsPort" -}}{{ if .Values.metrics.secure }}8443{{ else }}8080{{ end }}{{- end -}}

{{- define "latch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "latch.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /*
latch.image is the operator's image and, through --server-image, the auth servers' default:
pinned by digest when one is given (the tag is then only informative), by tag otherwise.
*/ -}}
{{- define "latch.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}
{{- end -}}

{{- /*
latch.leaderElectionID is the operator's Lease name, fixed in manager.go (LeaderElectionID);
the leader-election Role grants get and update on this one Lease only.
*/ -}}
{{- define "latch.leaderElectionID" -}}latch-operator.latch.dev{{- end -}}
