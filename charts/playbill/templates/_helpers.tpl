{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "playbill.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of every object. Cluster-scoped objects use it too, so two releases in one cluster
need different release names (or fullnameOverride).
*/}}
{{- define "playbill.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "playbill.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "playbill.labels" -}}
helm.sh/chart: {{ include "playbill.chart" . }}
{{ include "playbill.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: playbill
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "playbill.selectorLabels" -}}
app.kubernetes.io/name: {{ include "playbill.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "playbill.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "playbill.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "playbill.leaseName" -}}
{{- default (include "playbill.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "playbill.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}
