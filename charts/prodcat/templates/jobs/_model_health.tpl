{{/* Model health (modelHealth.*): the monitor run's environment, the retrain run Job, the
predictor's inference-log settings and the data API's model-health settings. */}}

{{/* Whether the inference log is a folder on the models volume (else s3://). */}}
{{- define "prodcat.inferenceLogOnVolume" -}}
{{- if hasPrefix "/" .Values.modelHealth.inferenceLog.uri }}true{{- end -}}
{{- end -}}

{{/* Environment of `prodcat monitor`: the log, the feedback labels, where reports go. */}}
{{- define "prodcat.monitorEnv" -}}
- name: MONITOR_LOG_URI
  value: {{ .Values.modelHealth.inferenceLog.uri | quote }}
- name: MONITOR_FEEDBACK_DIR
  value: /data/feedback
- name: MONITOR_OUTPUT_DIR
  value: /artifacts/monitoring
- name: MONITOR_MODELS_DIR
  value: /artifacts/models
{{- end -}}

{{/* The predictor's inference log (PREDICT_INFERENCE_LOG_*), with model health on. */}}
{{- define "prodcat.predictorInferenceLogEnv" -}}
{{- if .Values.modelHealth.enabled }}
{{- $log := .Values.modelHealth.inferenceLog }}
- name: PREDICT_INFERENCE_LOG_URI
  value: {{ $log.uri | quote }}
- name: PREDICT_INFERENCE_LOG_SAMPLE
  value: {{ $log.sample | quote }}
- name: PREDICT_INFERENCE_LOG_TEXT
  value: {{ $log.text | quote }}
{{- end }}
{{- end -}}

{{/* The predictor's mount of the models volume, where a folder inference log lives. */}}
{{- define "prodcat.predictorInferenceLogMount" -}}
{{- if and .Values.modelHealth.enabled (include "prodcat.inferenceLogOnVolume" .) }}
- name: models
  mountPath: /artifacts
{{- end }}
{{- end -}}

{{- define "prodcat.predictorInferenceLogVolume" -}}
{{- if and .Values.modelHealth.enabled (include "prodcat.inferenceLogOnVolume" .) }}
- name: models
  persistentVolumeClaim:
    claimName: {{ include "prodcat.modelsClaim" . }}
{{- end }}
{{- end -}}

{{/* The data API's model-health settings: feedback labels, the monitor's reports (read-only on
the models volume), the retraining trigger. */}}
{{- define "prodcat.apiModelHealthEnv" -}}
{{- $mh := .Values.modelHealth -}}
- name: DATA_FEEDBACK_DIR
  value: /data/feedback
- name: DATA_MONITORING_DIR
  value: /artifacts/monitoring
{{- if $mh.enabled }}
{{- if include "prodcat.inferenceLogOnVolume" . }}
- name: DATA_INFERENCE_LOG_URI
  value: {{ $mh.inferenceLog.uri | quote }}
{{- end }}
- name: DATA_RETRAIN_REQUIRE_APPROVAL
  value: {{ $mh.retrain.requireApproval | quote }}
- name: DATA_RETRAIN_ON_ALERT
  value: {{ $mh.alerts.retrainOnAlert | quote }}
{{- if $mh.alerts.retrainOnAlert }}
- name: DATA_ALERT_WEBHOOK_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ required "modelHealth.alerts.tokenSecret is required with modelHealth.alerts.retrainOnAlert: create a Secret holding the bearer token Alertmanager sends to the data API" $mh.alerts.tokenSecret }}
      key: {{ $mh.alerts.tokenKey }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The retrain run: ONE Job whose init containers run `data preprocess` and `train` in order and
whose `run` container runs `evaluate` with the gate; one pod, so the steps share its volumes and
a failed step fails the Job. Built from the train and evaluate run templates (same images,
environment, resources), so it cannot drift from them. Takes the root context. */}}
{{- define "prodcat.retrainJob" -}}
{{- $v := .Values -}}
{{- $job := include "prodcat.runJob" (dict "ctx" . "stage" "evaluate") | fromYaml -}}
{{- $train := include "prodcat.runJob" (dict "ctx" . "stage" "train") | fromYaml -}}
{{- $trainContainer := first $train.spec.template.spec.containers -}}
{{- $_ := set $trainContainer "name" "train" -}}
{{- $labels := include "prodcat.labels" (dict "ctx" . "component" "retrain") | fromYaml -}}
{{- $_ := set $labels "prodcat.io/stage" "retrain" -}}
{{- $_ := set $job.metadata "labels" $labels -}}
{{- $_ := set $job.spec.template.metadata "labels" $labels -}}
{{- $_ := set $job.spec "activeDeadlineSeconds" $v.jobs.retrain.activeDeadlineSeconds -}}
{{- $rules := $job.spec.podFailurePolicy.rules -}}
{{- range $step := list "train" "preprocess" }}
{{- $rules = prepend $rules (dict "action" "FailJob" "onExitCodes" (dict "containerName" $step "operator" "In" "values" (list 2))) -}}
{{- end }}
{{- $_ := set $job.spec.podFailurePolicy "rules" $rules -}}
{{- /* What the CronJob runs (the API's runner sets the args per run): evaluate the model just
trained; with approval required, never promote. */ -}}
{{- $evaluate := first $job.spec.template.spec.containers -}}
{{- $promote := ternary "--no-promote" "--promote" $v.modelHealth.retrain.requireApproval -}}
{{- $_ := set $evaluate "args" (list "evaluate" "--model" "latest" "--prepared" "latest" $promote) -}}
{{- $preprocess := include "prodcat.retrainPreprocessContainer" . | fromYaml -}}
{{- $_ := set $job.spec.template.spec "initContainers" (list $preprocess $trainContainer) -}}
{{- toYaml $job -}}
{{- end -}}

{{/* The preprocess step of a retrain run: the data image, the data volume writable. */}}
{{- define "prodcat.retrainPreprocessContainer" -}}
name: preprocess
image: {{ include "prodcat.image" (dict "ctx" . "image" "data") }}
imagePullPolicy: {{ .Values.images.pullPolicy }}
command: ["prodcat"]
args:
  {{- toYaml .Values.jobs.retrain.preprocessArgs | nindent 2 }}
env:
  {{- include "prodcat.commonEnv" . | nindent 2 }}
  - name: DATA_DATASETS_DIR
    value: /data/datasets
  - name: DATA_PREPARED_DIR
    value: /data/prepared
resources:
  {{- toYaml .Values.jobs.retrain.preprocessResources | nindent 2 }}
{{ include "prodcat.containerSecurityContext" . }}
volumeMounts:
  {{- include "prodcat.tmpVolumeMount" . | nindent 2 }}
  - name: data
    mountPath: /data
{{- end -}}
