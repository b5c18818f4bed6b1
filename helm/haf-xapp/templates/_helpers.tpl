{{- define "haf-xapp.fullname" -}}
ricxapp-{{ .Values.name }}
{{- end -}}

{{- define "haf-xapp.labels" -}}
app: {{ .Values.namespace }}-{{ .Values.name }}
release: {{ .Release.Name }}
chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
