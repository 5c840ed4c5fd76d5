{{/* Render-time checks the schema cannot express (they compare two values). Each prints nothing or fails. */}}

{{/* The provider's pod counts: .p is its effective settings (llm-gateway.provider). fewest/most as a dict. */}}
{{- define "llm-gateway.podCounts" -}}
{{- if .autoscaling.enabled -}}
{{- toYaml (dict "fewest" (int .autoscaling.minReplicas) "most" (int .autoscaling.maxReplicas)) -}}
{{- else -}}
{{- toYaml (dict "fewest" (int .replicas) "most" (int .replicas)) -}}
{{- end -}}
{{- end -}}

{{/* A provider's replicas: a sane autoscaling range, and never more than one pod counting limits alone. */}}
{{- define "llm-gateway.checkProvider" -}}
{{- $p := .p -}}
{{- $a := $p.autoscaling -}}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- fail (printf "providers.%s.autoscaling: minReplicas (%v) is above maxReplicas (%v)" .name $a.minReplicas $a.maxReplicas) -}}
{{- end -}}
{{- $n := fromYaml (include "llm-gateway.podCounts" $p) -}}
{{- if and (gt (int $n.most) 1) (eq .root.Values.redis.mode "none") (not $p.allowPerPodLimits) -}}
{{- $what := "replicas" -}}
{{- if $a.enabled }}{{ $what = "autoscaling.maxReplicas" }}{{ end -}}
{{- fail (printf "providers.%s can run %v pods (%s) but redis.mode is none: each pod would count every client's rpm/tpm limits and budgets alone (%v times them). Set redis.mode to external or inChart to share the limits, keep one pod, or set gateway.allowPerPodLimits=true to accept limits that count per pod" .name $n.most $what $n.most) -}}
{{- end -}}
{{- end -}}

{{/* A PodDisruptionBudget's minAvailable against the fewest pods: one that leaves no pod to evict would hang every
     node drain. Integers, their string form (--set-string) and percentages; .what names the value. */}}
{{- define "llm-gateway.checkPdb" -}}
{{- $raw := toString .minAvailable -}}
{{- $hang := printf "%s (%s) leaves no pod to evict at %v replicas: a node drain would hang (lower it, raise the replicas, or disable the budget)" .what $raw .fewest -}}
{{- if not (regexMatch "^[0-9]+%?$" $raw) -}}
{{- fail (printf "%s (%s): an integer or a percentage" .what $raw) -}}
{{- else if hasSuffix "%" $raw -}}
{{- if ge (atoi (trimSuffix "%" $raw)) 100 }}{{ fail $hang }}{{ end -}}
{{- else if ge (atoi $raw) (int .fewest) -}}
{{- fail $hang -}}
{{- end -}}
{{- end -}}
