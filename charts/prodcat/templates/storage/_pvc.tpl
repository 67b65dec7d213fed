{{/* A PersistentVolumeClaim. Takes (dict "ctx" $ "name" "…" "component" "…" "spec" <persistence block>). */}}
{{- define "prodcat.pvc" -}}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .name }}
  labels:
    {{- include "prodcat.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
  annotations:
    helm.sh/resource-policy: keep
spec:
  accessModes:
    {{- toYaml .spec.accessModes | nindent 4 }}
  {{- with .spec.storageClass }}
  storageClassName: {{ . | quote }}
  {{- end }}
  resources:
    requests:
      storage: {{ .spec.size }}
{{- end -}}
