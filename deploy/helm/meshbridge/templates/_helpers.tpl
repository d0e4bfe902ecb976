{{- define "meshbridge.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "meshbridge.labels" -}}
app.kubernetes.io/name: meshbridge
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* Selector labels of one role: (dict "ctx" $ "role" "gateway") */}}
{{- define "meshbridge.selector" -}}
app.kubernetes.io/name: meshbridge
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{/*
The image of a role: (dict "ctx" $ "role" "gateway"). <role>.imageTag pins one role to another release during an
upgrade in the order of docs/operations.md (projector, gateways, collectors; docs/kubernetes.md).
*/}}
{{- define "meshbridge.image" -}}
{{- $role := index .ctx.Values (.role | default "none") | default dict }}
{{- .ctx.Values.image.repository }}:{{ $role.imageTag | default .ctx.Values.image.tag | default .ctx.Chart.AppVersion }}
{{- end }}

{{/* The inline secrets the chart itself holds (key -> value), as a dict. */}}
{{- define "meshbridge.inlineSecrets" -}}
{{- $out := dict }}
{{- range $name := list "redisPassword" "kafkaSaslPassword" }}
{{- $s := index $.Values.secrets $name }}
{{- if and $s.value (not $s.existingSecret) }}{{ $_ := set $out $s.key $s.value }}{{ end }}
{{- end }}
{{- range $id, $s := .Values.secrets.consulTokens }}
{{- if and $s.value (not $s.existingSecret) }}{{ $_ := set $out (default "consul-token" $s.key | printf "%s-%s" $id) $s.value }}{{ end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/*
Secret files a role needs: a list of {env, secret, key, file} (env: the MESHBRIDGE_*_FILE override naming the file).
(dict "ctx" $ "needs" (list "redis" "kafka" "consul")): only what the role talks to is mounted (least privilege).
*/}}
{{- define "meshbridge.secretFiles" -}}
{{- $needs := .needs }}
{{- $ctx := .ctx }}
{{- with .ctx }}
{{- $fn := include "meshbridge.fullname" . }}
{{- $files := list }}
{{- range $name, $dep := dict "redisPassword" "redis" "kafkaSaslPassword" "kafka" }}
{{- $env := ternary "MESHBRIDGE_REDIS_PASSWORD_FILE" "MESHBRIDGE_KAFKA_SASL_PASSWORD_FILE" (eq $dep "redis") }}
{{- $s := index $ctx.Values.secrets $name }}
{{- if and (or $s.value $s.existingSecret) (has $dep $needs) }}
{{- $files = append $files (dict "env" $env "secret" ($s.existingSecret | default (printf "%s-secrets" $fn)) "key" $s.key "file" $name) }}
{{- end }}
{{- end }}
{{- if has "consul" $needs }}
{{- range $id, $s := .Values.secrets.consulTokens }}
{{- $env := printf "MESHBRIDGE_CONSUL_TOKEN_%s_FILE" (regexReplaceAll "[^A-Z0-9]" (upper $id) "_") }}
{{- $key := default "consul-token" $s.key }}
{{- $files = append $files (dict "env" $env "secret" ($s.existingSecret | default (printf "%s-secrets" $fn)) "key" (ternary $key (printf "%s-%s" $id $key) (not (empty $s.existingSecret))) "file" (printf "consul-%s" $id)) }}
{{- end }}
{{- end }}
{{- toYaml (dict "files" $files) }}
{{- end }}
{{- end }}

{{/* meshbridge.yaml: values.config plus what the chart owns (listen addresses, ports, TLS file paths). */}}
{{- define "meshbridge.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $p := .Values.ports }}
{{- $_ := set $cfg "collector" (merge (dict "httpHost" "0.0.0.0" "httpPort" $p.collector) (get $cfg "collector" | default dict)) }}
{{- $_ := set $cfg "projector" (merge (dict "httpHost" "0.0.0.0" "httpPort" $p.projector) (get $cfg "projector" | default dict)) }}
{{- $gw := merge (dict "grpcHost" "0.0.0.0" "grpcPort" $p.xds "httpHost" "0.0.0.0" "httpPort" $p.gateway) (get $cfg "gateway" | default dict) }}
{{- if .Values.secrets.gatewayTls.existingSecret }}
{{- $_ := set $gw "tls" (dict "certFile" "/etc/meshbridge/tls/gateway/tls.crt" "keyFile" "/etc/meshbridge/tls/gateway/tls.key") }}
{{- end }}
{{- $_ := set $cfg "gateway" $gw }}
{{- if .Values.secrets.kafkaTls.existingSecret }}
{{- $ssl := dict "caFile" "/etc/meshbridge/tls/kafka/ca.crt" }}
{{- if .Values.secrets.kafkaTls.clientCertificate }}
{{- $_ := set $ssl "certFile" "/etc/meshbridge/tls/kafka/tls.crt" }}{{ $_ := set $ssl "keyFile" "/etc/meshbridge/tls/kafka/tls.key" }}
{{- end }}
{{- $_ := set $cfg.kafka "ssl" $ssl }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* Pod-level settings shared by every role: (dict "ctx" $ "role" "collector" "sa" "collector") */}}
{{- define "meshbridge.podCommon" -}}
serviceAccountName: {{ include "meshbridge.fullname" .ctx }}-{{ .sa | default .role }}
automountServiceAccountToken: false
securityContext: {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Pod template annotations: no sidecar; on Deployments the config checksum too (a config change rolls the pods).
Jobs read the config when they start, and a Job's pod template is immutable: a checksum there would make every
config change fail to apply. (dict "ctx" $ "checksum" bool)
*/}}
{{- define "meshbridge.podAnnotations" -}}
sidecar.istio.io/inject: "false"
{{- if .checksum }}
checksum/config: {{ include "meshbridge.config" .ctx | sha256sum }}
{{- end }}
{{- with .ctx.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Container-level: image, securityContext, env, volumeMounts.
(dict "ctx" $ "role" "collector" "needs" (list "redis" "kafka" "consul") "env" list "gatewayTls" bool)
*/}}
{{- define "meshbridge.containerCommon" -}}
image: {{ include "meshbridge.image" (dict "ctx" .ctx "role" .role) }}
imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
securityContext: {{- toYaml .ctx.Values.securityContext | nindent 2 }}
env:
  - { name: MESHBRIDGE_CONFIG, value: /etc/meshbridge/meshbridge.yaml }
{{- range (include "meshbridge.secretFiles" . | fromYaml).files }}
  - { name: {{ .env }}, value: /etc/meshbridge/secrets/{{ .file }} }
{{- end }}
{{- with .env }}
{{- toYaml . | nindent 2 }}
{{- end }}
volumeMounts:
  - { name: config, mountPath: /etc/meshbridge/meshbridge.yaml, subPath: meshbridge.yaml, readOnly: true }
  - { name: tmp, mountPath: /tmp }
{{- if (include "meshbridge.secretFiles" . | fromYaml).files }}
  - { name: secrets, mountPath: /etc/meshbridge/secrets, readOnly: true }
{{- end }}
{{- if and .ctx.Values.secrets.kafkaTls.existingSecret (has "kafka" .needs) }}
  - { name: kafka-tls, mountPath: /etc/meshbridge/tls/kafka, readOnly: true }
{{- end }}
{{- if and .gatewayTls .ctx.Values.secrets.gatewayTls.existingSecret }}
  - { name: gateway-tls, mountPath: /etc/meshbridge/tls/gateway, readOnly: true }
{{- end }}
{{- end }}

{{/* defaultMode 288 = 0440: written in decimal, which YAML 1.1 and 1.2 readers agree on (0440 is octal only in 1.1). */}}
{{- define "meshbridge.volumes" -}}
volumes:
  - name: config
    configMap: { name: {{ include "meshbridge.fullname" .ctx }} }
  - name: tmp
    emptyDir: { sizeLimit: 64Mi }
{{- $files := (include "meshbridge.secretFiles" . | fromYaml).files }}
{{- if $files }}
  - name: secrets
    projected:
      defaultMode: 288
      sources:
{{- range $files }}
        - secret: { name: {{ .secret }}, items: [{ key: {{ .key }}, path: {{ .file }} }] }
{{- end }}
{{- end }}
{{- if and .ctx.Values.secrets.kafkaTls.existingSecret (has "kafka" .needs) }}
  - name: kafka-tls
    secret: { secretName: {{ .ctx.Values.secrets.kafkaTls.existingSecret }}, defaultMode: 288 }
{{- end }}
{{- if and .gatewayTls .ctx.Values.secrets.gatewayTls.existingSecret }}
  - name: gateway-tls
    secret: { secretName: {{ .ctx.Values.secrets.gatewayTls.existingSecret }}, defaultMode: 288 }
{{- end }}
{{- end }}

{{/* config.gateway.shards (values.yaml sets the product default): config sources the gateway serves, one port each. */}}
{{- define "meshbridge.gatewayShards" -}}
{{- $gw := .Values.config.gateway | default dict }}{{ int (get $gw "shards" | default 1) }}
{{- end }}

{{/* Services exposing the shards, at most 100 ports each (the EndpointSlice limit). */}}
{{- define "meshbridge.gatewayServiceCount" -}}
{{ div (add (include "meshbridge.gatewayShards" . | int) 99) 100 }}
{{- end }}

{{/* istiod's xds:// addresses, one per shard, each on the Service that exposes it. */}}
{{- define "meshbridge.istiodSources" -}}
{{- $fn := include "meshbridge.fullname" . }}
{{- $lines := list }}
{{- range $i := until (include "meshbridge.gatewayShards" . | int) }}
{{- $g := div $i 100 }}
{{- $lines = append $lines (printf "- address: xds://%s-gateway%s.%s.svc:%d" $fn (ternary (printf "-%d" $g) "" (gt $g 0)) $.Release.Namespace (add $.Values.ports.xds $i)) }}
{{- end }}
{{- join "\n" $lines }}
{{- end }}
