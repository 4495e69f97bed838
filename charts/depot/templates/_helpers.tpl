{{/* Names, labels and the derived settings every template shares (helm create conventions). */}}

{{- define "depot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "depot.fullname" -}}
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

{{- define "depot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "depot.labels" -}}
helm.sh/chart: {{ include "depot.chart" . }}
{{ include "depot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "depot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "depot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: call with (dict "ctx" $ "component" "api"). */}}
{{- define "depot.componentLabels" -}}
{{ include "depot.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "depot.componentSelectorLabels" -}}
{{ include "depot.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "depot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "depot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "depot.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Name of the Secret with the DEPOT_* credentials (rendered or existing). */}}
{{- define "depot.secretName" -}}
{{- default (include "depot.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "depot.minioName" -}}
{{- printf "%s-minio" (include "depot.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "depot.minioSecretName" -}}
{{- default (include "depot.minioName" .) .Values.minio.auth.existingSecret }}
{{- end }}

{{- define "depot.redisName" -}}
{{- printf "%s-redis" (include "depot.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* DEPOT_S3_ENDPOINT_URL: explicit, else the bundled MinIO, else empty (AWS). */}}
{{- define "depot.s3Endpoint" -}}
{{- if .Values.config.s3.endpointUrl }}
{{- .Values.config.s3.endpointUrl }}
{{- else if .Values.minio.enabled }}
{{- printf "http://%s:%d" (include "depot.minioName" .) (int .Values.minio.apiPort) }}
{{- end }}
{{- end }}

{{/* DEPOT_REDIS_URL of the bundled Redis (an external URL lives in the Secret). */}}
{{- define "depot.redisUrl" -}}
{{- printf "redis://%s:6379/0" (include "depot.redisName" .) }}
{{- end }}

{{/* Worker grace period: the job completion wait plus time to close clients and exit. */}}
{{- define "depot.workerGracePeriod" -}}
{{- add (int .Values.worker.jobCompletionWait) 15 }}
{{- end }}

{{/*
A generated password that survives upgrades: reuse the value in the live Secret when there is one.
Call with (dict "ctx" $ "secret" NAME "key" KEY "value" GIVEN).
*/}}
{{- define "depot.password" -}}
{{- if .value }}
{{- .value }}
{{- else }}
{{- $live := lookup "v1" "Secret" .ctx.Release.Namespace .secret }}
{{- if and $live (index ($live.data | default dict) .key) }}
{{- index $live.data .key | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}
{{- end }}

{{/* The pod template parts api and worker share: volumes for the read-only root filesystem. */}}
{{- define "depot.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{- define "depot.envFrom" -}}
- configMapRef:
    name: {{ include "depot.fullname" . }}
- secretRef:
    name: {{ include "depot.secretName" . }}
{{- end }}

{{/* Probe timing from a values block (enabled, periodSeconds, failureThreshold, timeoutSeconds). */}}
{{- define "depot.probeTiming" -}}
periodSeconds: {{ .periodSeconds }}
failureThreshold: {{ .failureThreshold }}
timeoutSeconds: {{ .timeoutSeconds }}
{{- end }}

{{/* Pod annotations that roll the pods when the settings change. */}}
{{- define "depot.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}

{{/* ingress-nginx body limit: the larger of the file and model-ZIP upload limits in MiB, rounded up,
plus 1 MiB for the other form fields. */}}
{{- define "depot.bodySizeLimit" -}}
{{- $mib := 1048576 }}
{{- $limit := max (int64 .Values.config.maxUploadSize) (int64 .Values.config.models.zipMaxBytes) }}
{{- printf "%dm" (add (div (add $limit (sub $mib 1)) $mib) 1) }}
{{- end }}
