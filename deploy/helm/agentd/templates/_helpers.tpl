{{/*
The agentd image, repository[:tag][@digest]. Rendering fails when neither tag nor digest is
given, or the tag is "latest": an unpinned image would let the control plane and the runner pods
run different builds.
*/}}
{{- define "agentd.image" -}}
{{- $image := .Values.image -}}
{{- if and (not $image.tag) (not $image.digest) -}}
{{- fail "image: set image.digest (sha256:..., preferred) or image.tag (a full version): agentd's image must be pinned" -}}
{{- end -}}
{{- if eq (toString $image.tag) "latest" -}}
{{- fail "image.tag: \"latest\" is not a pinned version; set a full version or image.digest" -}}
{{- end -}}
{{- $ref := required "image.repository is required" $image.repository -}}
{{- if $image.tag -}}{{- $ref = printf "%s:%s" $ref (toString $image.tag) -}}{{- end -}}
{{- if $image.digest -}}{{- $ref = printf "%s@%s" $ref $image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "agentd.labels" -}}
app.kubernetes.io/name: agentd
app.kubernetes.io/part-of: agentd
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The agentd pod's labels that the Deployment, the Service and the NetworkPolicy select. */}}
{{- define "agentd.selectorLabels" -}}
app.kubernetes.io/name: agentd
app.kubernetes.io/component: control-plane
{{- end -}}

{{/* AGENTD_API_URL: the Service's cluster DNS name, as runner pods reach it. */}}
{{- define "agentd.apiUrl" -}}
http://agentd.{{ .Values.namespaces.system }}.svc:8080
{{- end -}}
