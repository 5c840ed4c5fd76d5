{{/* Shared stores (redis: limits, postgres: usage) as the gateways see them: settings, env from existing
     Secrets, CA mounts and egress. The chart never holds the credentials: URLs and passwords stay in the
     operator's Secrets and reach the pod through secretKeyRef. */}}

{{- define "llm-gateway.storeHost" -}}
{{- printf "%s-%s" (include "llm-gateway.fullname" .root) .component -}}
{{- end -}}

{{/* Non-secret GATEWAY_* settings for the gateway ConfigMap; .replicas is the provider's largest pod count. */}}
{{- define "llm-gateway.storeSettings" -}}
{{- $v := .root.Values -}}
{{- if ne $v.redis.mode "none" }}
GATEWAY_LIMITS_BACKEND: redis
GATEWAY_LIMITS_REPLICAS: {{ .replicas | quote }}
GATEWAY_LIMITS_BUDGETS_ON_OUTAGE: {{ $v.redis.budgetsOnOutage | quote }}
{{- end }}
{{- if ne $v.postgres.mode "none" }}
GATEWAY_USAGE_BACKEND: postgres
GATEWAY_USAGE_BATCH: {{ $v.postgres.usage.batch | quote }}
GATEWAY_USAGE_BUFFER_MAX: {{ $v.postgres.usage.bufferMax | quote }}
GATEWAY_USAGE_FLUSH_S: {{ $v.postgres.usage.flushSeconds | quote }}
{{- end }}
{{- end -}}

{{/* Container env: the URL/DSN from the operator's Secret (external), or built from the in-chart store's
     password Secret by Kubernetes' $(VAR) expansion (the password must be URL-safe). */}}
{{- define "llm-gateway.storeEnv" -}}
{{- $v := .Values -}}
{{- if eq $v.redis.mode "external" }}
- name: GATEWAY_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "redis.external.urlSecret.name: the Secret holding the Redis URL" $v.redis.external.urlSecret.name }}
      key: {{ $v.redis.external.urlSecret.key }}
{{- else if eq $v.redis.mode "inChart" }}
- name: LLMGW_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "redis.inChart.passwordSecret.name: the Secret holding the Valkey password" $v.redis.inChart.passwordSecret.name }}
      key: {{ $v.redis.inChart.passwordSecret.key }}
- name: GATEWAY_REDIS_URL
  value: {{ printf "redis://:$(LLMGW_REDIS_PASSWORD)@%s:%v/0" (include "llm-gateway.storeHost" (dict "root" . "component" "valkey")) $v.redis.inChart.port | quote }}
{{- end }}
{{- if eq $v.postgres.mode "external" }}
- name: GATEWAY_POSTGRES_DSN
  valueFrom:
    secretKeyRef:
      name: {{ required "postgres.external.dsnSecret.name: the Secret holding the PostgreSQL DSN" $v.postgres.external.dsnSecret.name }}
      key: {{ $v.postgres.external.dsnSecret.key }}
- {name: PGSSLMODE, value: {{ $v.postgres.external.sslmode | quote }}}
{{- if $v.postgres.external.caSecret }}
- {name: PGSSLROOTCERT, value: /etc/llm-gateway/postgres-ca/ca.crt}
{{- end }}
{{- else if eq $v.postgres.mode "inChart" }}
{{- $pg := $v.postgres.inChart }}
- name: LLMGW_POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "postgres.inChart.passwordSecret.name: the Secret holding the PostgreSQL password" $pg.passwordSecret.name }}
      key: {{ $pg.passwordSecret.key }}
- name: GATEWAY_POSTGRES_DSN
  value: {{ printf "postgresql://%s:$(LLMGW_POSTGRES_PASSWORD)@%s:%v/%s" $pg.user (include "llm-gateway.storeHost" (dict "root" . "component" "postgres")) $pg.port $pg.database | quote }}
{{- end }}
{{- end -}}

{{- define "llm-gateway.storeMounts" -}}
{{- if and (eq .Values.redis.mode "external") .Values.redis.external.caSecret }}
- {name: redis-ca, mountPath: /etc/llm-gateway/redis-ca, readOnly: true}
{{- end }}
{{- if and (eq .Values.postgres.mode "external") .Values.postgres.external.caSecret }}
- {name: postgres-ca, mountPath: /etc/llm-gateway/postgres-ca, readOnly: true}
{{- end }}
{{- end -}}

{{- define "llm-gateway.storeVolumes" -}}
{{- if and (eq .Values.redis.mode "external") .Values.redis.external.caSecret }}
- name: redis-ca
  secret: {secretName: {{ .Values.redis.external.caSecret }}, items: [{key: ca.crt, path: ca.crt}]}
{{- end }}
{{- if and (eq .Values.postgres.mode "external") .Values.postgres.external.caSecret }}
- name: postgres-ca
  secret: {secretName: {{ .Values.postgres.external.caSecret }}, items: [{key: ca.crt, path: ca.crt}]}
{{- end }}
{{- end -}}

{{/* Gateway egress rules to the stores: the in-chart pods by label, external ones by the given peers. */}}
{{- define "llm-gateway.storeEgress" -}}
{{- range $name, $component := dict "redis" "valkey" "postgres" "postgres" }}
{{- $store := get $.Values $name }}
{{- if eq $store.mode "inChart" }}
- to:
    - podSelector:
        matchLabels:
          {{- include "llm-gateway.selector" (dict "root" $ "component" $component) | nindent 10 }}
  ports: [{port: {{ $store.inChart.port }}, protocol: TCP}]
{{- else if eq $store.mode "external" }}
- to: {{- include "llm-gateway.peers" (dict "peer" (omit $store.external.egress "port") "what" (printf "%s.external.egress" $name)) | nindent 4 }}
  ports: [{port: {{ $store.external.egress.port }}, protocol: TCP}]
{{- end }}
{{- end }}
{{- end -}}
