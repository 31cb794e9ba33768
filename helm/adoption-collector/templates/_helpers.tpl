{{/* vim: set filetype=mustache: */}}
{{/*
Naming and labels follow prometheus-community's kube-state-metrics chart, so the two look alike
side by side.
*/}}

{{/*
Expand the name of the chart.
*/}}
{{- define "adoption-collector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS
naming spec). If the release name contains the chart name it is used as the full name.
*/}}
{{- define "adoption-collector.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The namespace of the release's namespaced objects (overridable for umbrella charts).
*/}}
{{- define "adoption-collector.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "adoption-collector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Common labels, on every object.
*/}}
{{- define "adoption-collector.labels" -}}
helm.sh/chart: {{ include "adoption-collector.chart" . }}
{{ include "adoption-collector.selectorLabels" . }}
app.kubernetes.io/component: metrics
app.kubernetes.io/part-of: {{ include "adoption-collector.name" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with mergeOverwrite (deepCopy (.Values.commonLabels | default dict)) (.Values.customLabels | default dict) }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Selector labels: immutable on a Deployment, so never anything that changes between upgrades.
*/}}
{{- define "adoption-collector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "adoption-collector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
The name of the service account to use.
*/}}
{{- define "adoption-collector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "adoption-collector.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The image reference, as prometheus-community charts build it: [registry/]repository, then
@digest when a digest is pinned, else :tag (the chart's appVersion when empty).
global.imageRegistry overrides image.registry, for umbrella charts and mirrors.
*/}}
{{- define "adoption-collector.image" -}}
{{- $registry := .Values.global.imageRegistry | default .Values.image.registry -}}
{{- $repository := .Values.image.repository -}}
{{- if $registry -}}
{{- $repository = printf "%s/%s" $registry $repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Paths inside the container. The Dockerfile (deploy/Dockerfile) uses the same ones; a test keeps
them in step.
*/}}
{{- define "adoption-collector.configDir" -}}/etc/adoption-collector{{- end -}}
{{- define "adoption-collector.stateDir" -}}/var/lib/adoption-collector{{- end -}}
{{- define "adoption-collector.githubAppKeyFile" -}}github-app-private-key.pem{{- end -}}
{{- /* The token is a file, not an environment variable: the collector reads it on every scan,
so a rotated Secret (which the kubelet updates in the volume) needs no restart. */ -}}
{{- define "adoption-collector.githubTokenFile" -}}github-token{{- end -}}
{{- define "adoption-collector.backstageTokenFile" -}}backstage-token{{- end -}}
{{- /* Its own directory, not one under configDir: a mount point inside another read-only
volume needs the runtime to create a directory there, which some runtimes refuse. */ -}}
{{- define "adoption-collector.webConfigDir" -}}/etc/adoption-collector-web{{- end -}}

{{/*
Whether the pod serves through a web-config file ("true" or ""), after checking that the
webConfig values agree with each other.
*/}}
{{- define "adoption-collector.webConfig" -}}
{{- if .Values.webConfig.existingSecret -}}
{{- if and .Values.webConfig.requireClientCertificates (not .Values.webConfig.tls) -}}
{{- fail "webConfig.requireClientCertificates needs webConfig.tls: client certificates are part of the TLS handshake" -}}
{{- end -}}
true
{{- else if or .Values.webConfig.tls .Values.webConfig.requireClientCertificates -}}
{{- fail "webConfig.tls and webConfig.requireClientCertificates describe the web-config file in webConfig.existingSecret; set it too" -}}
{{- end -}}
{{- end -}}

{{/*
The workload kinds the collector tracks: config.kubernetes.kinds, or the collector's default
(all five) when unset. Returned as a JSON list because templates can only return strings.
*/}}
{{- define "adoption-collector.kinds" -}}
{{- $kinds := dig "kubernetes" "kinds" list (.Values.config | default dict) -}}
{{- if not $kinds -}}
{{- $kinds = list "Deployment" "StatefulSet" "DaemonSet" "CronJob" "Job" -}}
{{- end -}}
{{- toJson $kinds -}}
{{- end -}}

{{/*
RBAC rules for the workload kinds: exactly get/list/watch on the resource of each configured
kind, grouped by API group in a fixed order (so the output does not depend on the order of
config.kubernetes.kinds). Namespaces are not included here: the cluster-wide and the namespaced
variants grant them differently.
*/}}
{{- define "adoption-collector.workloadRules" -}}
{{- $kinds := include "adoption-collector.kinds" . | fromJsonArray -}}
{{- $apps := list -}}
{{- range list (list "Deployment" "deployments") (list "StatefulSet" "statefulsets") (list "DaemonSet" "daemonsets") -}}
{{- if has (index . 0) $kinds }}{{ $apps = append $apps (index . 1) }}{{ end -}}
{{- end -}}
{{- $batch := list -}}
{{- range list (list "CronJob" "cronjobs") (list "Job" "jobs") -}}
{{- if has (index . 0) $kinds }}{{ $batch = append $batch (index . 1) }}{{ end -}}
{{- end -}}
{{- if $apps }}
- apiGroups: [apps]
  resources: [{{ join ", " $apps }}]
  verbs: [get, list, watch]
{{- end }}
{{- if $batch }}
- apiGroups: [batch]
  resources: [{{ join ", " $batch }}]
  verbs: [get, list, watch]
{{- end }}
{{- end -}}

{{/*
Whether the chart manages a GitHub credential: "token", "app" or "" (none).
*/}}
{{- define "adoption-collector.githubCredential" -}}
{{- $token := or .Values.github.token.existingSecret .Values.github.token.value -}}
{{- $app := or .Values.github.app.existingSecret .Values.github.app.privateKey -}}
{{- if and $token $app -}}
{{- fail "github: set either github.token or github.app, not both (the collector takes exactly one credential)" -}}
{{- end -}}
{{- if and .Values.github.token.existingSecret .Values.github.token.value -}}
{{- fail "github.token: set either existingSecret or value, not both" -}}
{{- end -}}
{{- if and .Values.github.app.existingSecret .Values.github.app.privateKey -}}
{{- fail "github.app: set either existingSecret or privateKey, not both" -}}
{{- end -}}
{{- if $token }}token{{ else if $app }}app{{ end -}}
{{- end -}}

{{/*
Whether the chart creates the GitHub Secret (a credential given as a value, not an existing
Secret).
*/}}
{{- define "adoption-collector.createGithubSecret" -}}
{{- if or .Values.github.token.value .Values.github.app.privateKey }}true{{ end -}}
{{- end -}}

{{/*
Whether the chart passes a Backstage token: "true" or "" (none).
*/}}
{{- define "adoption-collector.backstageToken" -}}
{{- if and .Values.backstage.token.existingSecret .Values.backstage.token.value -}}
{{- fail "backstage.token: set either existingSecret or value, not both" -}}
{{- end -}}
{{- if or .Values.backstage.token.existingSecret .Values.backstage.token.value }}true{{ end -}}
{{- end -}}

{{- define "adoption-collector.backstageSecretName" -}}
{{- printf "%s-backstage" (include "adoption-collector.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "adoption-collector.githubSecretName" -}}
{{- printf "%s-github" (include "adoption-collector.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The collector's config file: .Values.config verbatim, merged with the keys the chart manages
(state path, listen address and web-config file, default in-cluster cluster, namespaced-RBAC
namespaces and the GitHub credential). Any key of the collector's config schema can be set under .Values.config;
the collector validates the result at start (and `adoption-collector check-config` offline).
*/}}
{{- define "adoption-collector.config" -}}
{{- $config := deepCopy (.Values.config | default dict) -}}

{{- /* platform.launch_date has no default in the collector: fail here, not in a CrashLoop. */ -}}
{{- $_ := required "config.platform.launch_date is required: the date the platform went live, e.g. --set config.platform.launch_date=2026-03-01" (dig "platform" "launch_date" "" $config) -}}

{{- /* The chart owns where the state lives and where the server listens. */ -}}
{{- if hasKey $config "state" -}}
{{- fail "config.state is managed by the chart (the state lives on the persistence volume); remove it" -}}
{{- end -}}
{{- if hasKey $config "server" -}}
{{- fail "config.server is managed by the chart (use service.port), the web config too (use webConfig); remove it" -}}
{{- end -}}
{{- $_ = set $config "state" (dict "path" (printf "%s/state.db" (include "adoption-collector.stateDir" .)) "on_unreadable" .Values.persistence.onUnreadable) -}}
{{- $server := dict "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) -}}
{{- if include "adoption-collector.webConfig" . -}}
{{- $_ = set $server "web_config_file" (printf "%s/%s" (include "adoption-collector.webConfigDir" .) .Values.webConfig.existingSecretKey) -}}
{{- end -}}
{{- $_ = set $config "server" $server -}}

{{- $kube := deepCopy (get $config "kubernetes" | default dict) -}}
{{- if not $kube.clusters -}}
{{- $_ = set $kube "clusters" (list (dict "name" .Values.clusterName "in_cluster" true)) -}}
{{- end -}}
{{- if .Values.rbac.namespaces -}}
{{- /* Namespaced Roles only allow listing inside these namespaces: the collector must too. */ -}}
{{- if and $kube.namespaces (ne (toJson $kube.namespaces) (toJson .Values.rbac.namespaces)) -}}
{{- fail "config.kubernetes.namespaces differs from rbac.namespaces; set only rbac.namespaces, the chart copies it into the config" -}}
{{- end -}}
{{- $_ = set $kube "namespaces" .Values.rbac.namespaces -}}
{{- end -}}
{{- $_ = set $config "kubernetes" $kube -}}

{{- $credential := include "adoption-collector.githubCredential" . -}}
{{- $github := deepCopy (get $config "github" | default dict) -}}
{{- if $github.org -}}
{{- if $credential -}}
{{- range list "token_env" "token_file" "app" -}}
{{- if hasKey $github . -}}
{{- fail (printf "config.github.%s conflicts with the credential set under github.%s; the collector takes exactly one" . $credential) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq $credential "token" -}}
{{- $_ = set $github "token_file" (printf "%s/%s" (include "adoption-collector.configDir" .) (include "adoption-collector.githubTokenFile" .)) -}}
{{- else if eq $credential "app" -}}
{{- if not (and .Values.github.app.appId .Values.github.app.installationId) -}}
{{- fail "github.app.appId and github.app.installationId are required with a GitHub App private key" -}}
{{- end -}}
{{- $_ = set $github "app" (dict
      "app_id" (int64 .Values.github.app.appId)
      "installation_id" (int64 .Values.github.app.installationId)
      "private_key_file" (printf "%s/%s" (include "adoption-collector.configDir" .) (include "adoption-collector.githubAppKeyFile" .))) -}}
{{- else if not (or $github.token_env $github.token_file $github.app) -}}
{{- fail "config.github.org is set but no GitHub credential: set github.token (existingSecret or value) or github.app" -}}
{{- end -}}
{{- $_ = set $config "github" $github -}}
{{- else -}}
{{- if $credential -}}
{{- fail (printf "github.%s is set but config.github.org is not; set the organisation to enable the GitHub source" $credential) -}}
{{- end -}}
{{- /* No organisation: the GitHub source is off, so its defaults stay out of the file. */ -}}
{{- $_ = unset $config "github" -}}
{{- end -}}

{{- $backstageToken := include "adoption-collector.backstageToken" . -}}
{{- $backstage := deepCopy (get $config "backstage" | default dict) -}}
{{- if $backstage.base_url -}}
{{- if $backstageToken -}}
{{- range list "token_env" "token_file" -}}
{{- if hasKey $backstage . -}}
{{- fail (printf "config.backstage.%s conflicts with backstage.token; the collector takes exactly one" .) -}}
{{- end -}}
{{- end -}}
{{- $_ = set $backstage "token_file" (printf "%s/%s" (include "adoption-collector.configDir" .) (include "adoption-collector.backstageTokenFile" .)) -}}
{{- else if not (or $backstage.token_env $backstage.token_file) -}}
{{- fail "config.backstage.base_url is set but no token: set backstage.token (existingSecret or value)" -}}
{{- end -}}
{{- $_ = set $config "backstage" $backstage -}}
{{- else -}}
{{- if $backstageToken -}}
{{- fail "backstage.token is set but config.backstage.base_url is not; set the URL to enable the Backstage source" -}}
{{- end -}}
{{- /* No URL: the Backstage source is off, so its defaults stay out of the file. */ -}}
{{- $_ = unset $config "backstage" -}}
{{- end -}}

{{- toYaml $config -}}
{{- end -}}


{{/*
One alert's settings, as YAML (templates return strings): enabled, and for and severity from
prometheusRule.rules.<alert> over those of the alert's block of thresholds; runbook_url is
prometheusRule.runbookUrl plus the alert's anchor there. Called with (list prometheusRule name block).
*/}}
{{- define "adoption-collector.alert" -}}
{{- $r := index . 0 -}}
{{- $name := index . 1 -}}
{{- $block := index . 2 -}}
{{- $rule := get ($r.rules | default dict) $name | default dict -}}
enabled: {{ ternary $rule.enabled true (hasKey $rule "enabled") }}
for: {{ $rule.for | default $block.for | default "" | quote }}
severity: {{ $rule.severity | default $block.severity | quote }}
runbook_url: {{ printf "%s#%s" $r.runbookUrl (lower $name) | quote }}
{{- end -}}
