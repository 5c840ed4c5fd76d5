{{/* Names, labels, images and the security settings every pod shares. */}}

{{- define "llm-gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "llm-gateway.labels" -}}
{{ include "llm-gateway.selector" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* NetworkPolicy peers from {cidrs, namespaceSelector, podSelector}; never empty (an empty
     peer list would mean "everyone"). .what names the values key in the error. */}}
{{- define "llm-gateway.peers" -}}
{{- $peers := list -}}
{{- range .peer.cidrs }}{{ $peers = append $peers (dict "ipBlock" (dict "cidr" .)) }}{{ end -}}
{{- if or .peer.namespaceSelector .peer.podSelector -}}
{{- $one := dict "podSelector" (.peer.podSelector | default dict) -}}
{{- with .peer.namespaceSelector }}{{ $_ := set $one "namespaceSelector" . }}{{ end -}}
{{- $peers = append $peers $one -}}
{{- end -}}
{{- if not $peers }}{{ fail (printf "%s: give cidrs or a namespaceSelector/podSelector" .what) }}{{ end -}}
{{- toYaml $peers -}}
{{- end -}}

{{/* Selector labels: component (gateway, edge, mock) and, for gateways, the provider. */}}
{{- define "llm-gateway.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .provider }}
llm-gateway.io/provider: {{ . }}
{{- end }}
{{- end -}}

{{/* <repository>@<digest> when a digest is set, else <repository>:<tag>; the tag defaults to appVersion. */}}
{{- define "llm-gateway.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The provider's effective settings: gateway defaults overridden by providers.<name>. */}}
{{- define "llm-gateway.provider" -}}
{{- $merged := mergeOverwrite (deepCopy .root.Values.gateway) (deepCopy .values) -}}
{{- $_ := set $merged "image" (dict "repository" (replace "{provider}" .name $merged.image.repository) "tag" $merged.image.tag "digest" $merged.image.digest) -}}
{{- if and .values.image .values.image.repository -}}{{/* a provider's own image name replaces the pattern */}}
{{- $_ := set $merged "image" (mergeOverwrite (deepCopy .root.Values.gateway.image) (deepCopy .values.image)) -}}
{{- end -}}
{{- toYaml $merged -}}
{{- end -}}

{{- define "llm-gateway.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "llm-gateway.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "llm-gateway.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The edge's NGINX_* settings (its ConfigMap's data): the enabled providers and each one's gateway Service
     and port (a provider's own `port` overrides gateway.port). */}}
{{- define "llm-gateway.edgeSettings" -}}
{{- $fullname := include "llm-gateway.fullname" . -}}
{{- $enabled := list -}}
{{- range $name, $values := .Values.providers }}{{ if $values.enabled }}{{ $enabled = append $enabled $name }}{{ end }}{{ end -}}
NGINX_PROVIDERS: {{ join "," $enabled | quote }}
{{- range $name := $enabled }}
{{- $p := fromYaml (include "llm-gateway.provider" (dict "root" $ "name" $name "values" (index $.Values.providers $name))) }}
NGINX_UPSTREAM_{{ $name | upper | replace "-" "_" }}: {{ printf "%s-%s:%v" $fullname $name $p.port | quote }}
{{- end }}
NGINX_HTTPS_PUBLIC_PORT: {{ .Values.edge.service.httpsPort | quote }}
{{- if not (hasKey .Values.edge.settings "NGINX_WORKER_PROCESSES") }}
{{- /* nginx's `auto` counts the node's CPUs, not the container's limit: one worker per CPU of the limit. */}}
{{- $cpu := toString (dig "resources" "limits" "cpu" "" .Values.edge) }}
{{- $workers := 1 }}
{{- if hasSuffix "m" $cpu }}{{ $workers = max 1 (div (add (trimSuffix "m" $cpu | int) 999) 1000) }}
{{- else if $cpu }}{{ $workers = max 1 (ceil ($cpu | float64) | int) }}{{ end }}
NGINX_WORKER_PROCESSES: {{ $workers | quote }}
{{- end }}
{{- range $key, $value := .Values.edge.settings }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* A PodDisruptionBudget (.name, .ctx: its selector, .minAvailable: checked by llm-gateway.checkPdb). */}}
{{- define "llm-gateway.pdb" }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  labels:
    {{- include "llm-gateway.labels" .ctx | nindent 4 }}
spec:
  minAvailable: {{ .minAvailable }}
  # Pods that are not ready (a Vault outage, a missing provider key) may always be evicted: the default policy
  # refuses to, and a node drain would hang on them.
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "llm-gateway.selector" .ctx | nindent 6 }}
{{- end }}
