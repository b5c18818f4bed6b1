{{- define "haf-rapp.fullname" -}}
{{ .Values.name }}
{{- end -}}

{{- define "haf-rapp.labels" -}}
app: {{ .Values.name }}
release: {{ .Release.Name }}
chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
