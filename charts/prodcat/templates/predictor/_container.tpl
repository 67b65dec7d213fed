{{/* The predictor container, the same under KServe and in the fallback Deployment.
Takes (dict "ctx" $ "name" "kserve-container"). */}}
{{- define "prodcat.predictorContainer" -}}
{{- $ctx := .ctx -}}
{{- $p := $ctx.Values.predictor -}}
{{- $useStorage := and $p.kserve.enabled (ne $p.storageUri "") -}}
- name: {{ .name }}
  image: {{ include "prodcat.image" (dict "ctx" $ctx "image" "predict") }}
  imagePullPolicy: {{ $ctx.Values.images.pullPolicy }}
  command: ["prodcat"]
  args:
    {{- toYaml $p.args | nindent 4 }}
  ports:
    - name: http1
      containerPort: {{ $p.port }}
      protocol: TCP
  env:
    {{- include "prodcat.commonEnv" $ctx | nindent 4 }}
    {{- include "prodcat.cpusEnv" $p.resources | nindent 4 }}
    - name: PREDICT_HOST
      value: 0.0.0.0
    - name: PREDICT_HTTP_PORT
      value: {{ $p.port | quote }}
    - name: PREDICT_MODEL_SOURCE
      value: {{ ternary "/mnt/models" $p.modelSource $useStorage | quote }}
    - name: PREDICT_TOP_K
      value: {{ $p.topK | quote }}
    {{- if $useStorage }}
    - name: STORAGE_URI
      value: {{ $p.storageUri | quote }}
    {{- end }}
    {{- include "prodcat.predictorInferenceLogEnv" $ctx | nindent 4 }}
    {{- with $p.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  startupProbe:
    httpGet:
      path: /v2/health/live
      port: {{ $p.port }}
    periodSeconds: 5
    failureThreshold: 60
  livenessProbe:
    httpGet:
      path: /v2/health/live
      port: {{ $p.port }}
    periodSeconds: 15
    timeoutSeconds: 3
    failureThreshold: 3
  readinessProbe:
    httpGet:
      path: /v2/health/ready
      port: {{ $p.port }}
    periodSeconds: 10
    timeoutSeconds: 3
    failureThreshold: 3
  resources:
    {{- toYaml $p.resources | nindent 4 }}
  {{- include "prodcat.containerSecurityContext" $ctx | nindent 2 }}
  volumeMounts:
    {{- include "prodcat.tmpVolumeMount" $ctx | nindent 4 }}
    {{- include "prodcat.predictorInferenceLogMount" $ctx | nindent 4 }}
{{- end -}}
