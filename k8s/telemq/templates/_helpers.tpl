{{/*
Names follow the Helm conventions: <release>-<chart> unless the release name
already holds the chart name, cut to 63 characters (a DNS label). Every
component appends its own suffix: <fullname>-broker, -collector, ...
*/}}
{{- define "telemq.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "telemq.fullname" -}}
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

{{/* <fullname>-<component>; the StatefulSets' pod names add -N, so 52 characters at most. */}}
{{- define "telemq.componentName" -}}
{{- printf "%s-%s" (include "telemq.fullname" .root) .component | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "telemq.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object of a component: (dict "root" $ "component" "broker"). */}}
{{- define "telemq.labels" -}}
helm.sh/chart: {{ include "telemq.chart" .root }}
{{ include "telemq.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: {{ include "telemq.name" .root }}
{{- end }}

{{/* Selector labels: never change them in an upgrade (selectors are immutable). */}}
{{- define "telemq.selectorLabels" -}}
app.kubernetes.io/name: {{ include "telemq.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "telemq.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The headless services that give every StatefulSet pod its DNS name. */}}
{{- define "telemq.brokerHeadless" -}}
{{- printf "%s-headless" (include "telemq.componentName" (dict "root" . "component" "broker")) }}
{{- end }}
{{- define "telemq.collectorHeadless" -}}
{{- printf "%s-headless" (include "telemq.componentName" (dict "root" . "component" "collector")) }}
{{- end }}

{{/* .<headless>.<namespace>.svc.<domain>: appended to a pod name, its stable DNS name. */}}
{{- define "telemq.brokerDomain" -}}
{{- printf ".%s.%s.svc.%s" (include "telemq.brokerHeadless" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}
{{- define "telemq.collectorDomain" -}}
{{- printf ".%s.%s.svc.%s" (include "telemq.collectorHeadless" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/* host:port of every broker, by id (entry i is the pod with ordinal i), as a list. */}}
{{- define "telemq.brokerPeers" -}}
{{- $name := include "telemq.componentName" (dict "root" . "component" "broker") }}
{{- $domain := include "telemq.brokerDomain" . }}
{{- $peers := list }}
{{- range $i := until (int .Values.broker.replicas) }}
{{- $peers = append $peers (printf "%s-%d%s:%d" $name $i $domain (int $.Values.broker.port)) }}
{{- end }}
{{- toJson $peers }}
{{- end }}

{{/* The apps' bootstrap list: every broker, so any one up is enough to start. */}}
{{- define "telemq.bootstrap" -}}
{{- include "telemq.brokerPeers" . | fromJsonArray | join "," }}
{{- end }}

{{/*
A flat map as a TOML file (the --config of the streamer, collector and
gateway): `key = value` per line, sorted; strings quoted, integers without
an exponent.
*/}}
{{- define "telemq.toml" -}}
{{- $lines := list }}
{{- range $key, $value := . }}
{{- if and (kindIs "float64" $value) (eq $value (floor $value)) }}
{{- $lines = append $lines (printf "%s = %d" $key (int64 $value)) }}
{{- else }}
{{- $lines = append $lines (printf "%s = %s" $key (toJson $value)) }}
{{- end }}
{{- end }}
{{- join "\n" $lines }}
{{- end }}

{{/* Environment every container gets: its pod name (the broker's and collector's DNS name start with it). */}}
{{- define "telemq.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}

{{/* Pod anti-affinity by the `antiAffinity` setting: (dict "root" $ "component" "broker" "values" .Values.broker). */}}
{{- define "telemq.antiAffinity" -}}
{{- $term := dict "labelSelector" (dict "matchLabels" (include "telemq.selectorLabels" . | fromYaml)) "topologyKey" .values.antiAffinityTopologyKey }}
{{- if eq .values.antiAffinity "hard" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      {{- list $term | toYaml | nindent 6 }}
{{- else if eq .values.antiAffinity "soft" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      {{- list (dict "weight" 100 "podAffinityTerm" $term) | toYaml | nindent 6 }}
{{- end }}
{{- end }}

{{/* Scheduling fields shared by every pod: (dict "values" .Values.broker). */}}
{{- define "telemq.scheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}

{{- define "telemq.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Quorum rules, checked at render time (`fail` stops helm install/template
with the message):
  * an odd broker count: a majority of 2k brokers tolerates k-1 failures,
    no more than 2k-1 brokers do, and the controller's voters are fixed;
  * an odd replication factor, for the same reason per partition;
  * at least as many brokers as the replication factor, or topics cannot be
    placed.
*/}}
{{- define "telemq.validateQuorum" -}}
{{- $n := int .Values.broker.replicas }}
{{- $rf := int (index .Values.broker.config "default_replication_factor" | default 3) }}
{{- if eq (mod $n 2) 0 }}
{{- fail (printf "broker.replicas=%d is even: a majority of %d brokers is %d, so they tolerate no more failures than %d brokers do, and a PodDisruptionBudget cannot split them safely; use an odd count (1, 3, 5, ...)" $n $n (add (div $n 2) 1) (sub $n 1)) }}
{{- end }}
{{- if eq (mod $rf 2) 0 }}
{{- fail (printf "broker.config.default_replication_factor=%d is even: a majority of %d replicas tolerates no more failures than %d do; use an odd factor (1, 3, 5)" $rf $rf (sub $rf 1)) }}
{{- end }}
{{- if lt $n $rf }}
{{- fail (printf "broker.replicas=%d is below broker.config.default_replication_factor=%d: every partition needs %d brokers for its replicas; raise broker.replicas or lower the factor" $n $rf $rf) }}
{{- end }}
{{- end }}

{{/*
Brokers that may be down at once without losing a majority anywhere: of any
partition's replicas (all could sit on the brokers that are down) and of
the controller's voters (brokers 0..2, or all of a smaller cluster).
*/}}
{{- define "telemq.brokerMaxUnavailable" -}}
{{- $n := int .Values.broker.replicas }}
{{- $rf := int (index .Values.broker.config "default_replication_factor" | default 3) }}
{{- $voters := min $n 3 }}
{{- min (div (sub $rf 1) 2) (div (sub $voters 1) 2) }}
{{- end }}

{{/* Broker terminationGracePeriodSeconds: leadership drain + in-flight grace + margin. */}}
{{- define "telemq.brokerGraceSeconds" -}}
{{- $c := .Values.broker.config }}
{{- $drain := int64 (index $c "leadership_drain_timeout_ms" | default 10000) }}
{{- $grace := int64 (index $c "shutdown_grace_ms" | default 10000) }}
{{- add (div (add $drain $grace 999) 1000) .Values.broker.terminationGraceMarginSeconds }}
{{- end }}
