{{/*
Helpers of the prodcat chart. Every helper is prefixed `prodcat.`.
Component helpers take a dict: (dict "ctx" $ "component" "api").
*/}}

{{/* Chart name, overridable. */}}
{{- define "prodcat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every resource name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "prodcat.fullname" -}}
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

{{/* <fullname>-<suffix>, cut to 63 characters. Takes (dict "ctx" $ "suffix" "api"). */}}
{{- define "prodcat.componentName" -}}
{{- printf "%s-%s" (include "prodcat.fullname" .ctx | trunc 50 | trimSuffix "-") .suffix | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* helm.sh/chart label value. */}}
{{- define "prodcat.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: name + instance + component. Takes (dict "ctx" $ "component" "api"). */}}
{{- define "prodcat.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prodcat.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Standard labels of every object. Takes (dict "ctx" $ "component" "api"). */}}
{{- define "prodcat.labels" -}}
helm.sh/chart: {{ include "prodcat.chart" .ctx }}
{{ include "prodcat.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: prodcat
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Release-wide selector (every pod of this release): name + instance. */}}
{{- define "prodcat.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "prodcat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Image reference from images.<key>: repository@digest, else repository:tag (tag defaults to appVersion).
Takes (dict "ctx" $ "image" "data"). */}}
{{- define "prodcat.image" -}}
{{- $img := index .ctx.Values.images .image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .ctx.Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets block (pod spec level). */}}
{{- define "prodcat.imagePullSecrets" -}}
{{- with .Values.images.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod-level securityContext. */}}
{{- define "prodcat.podSecurityContext" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* Container-level securityContext. */}}
{{- define "prodcat.containerSecurityContext" -}}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
{{- end -}}

{{/* The writable /tmp of every pod (the root filesystem is read-only). */}}
{{- define "prodcat.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{- define "prodcat.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Environment common to every prodcat process. */}}
{{- define "prodcat.commonEnv" -}}
- name: PRODCAT_LOG_FORMAT
  value: json
- name: PRODCAT_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: HOME
  value: /tmp
- name: MLFLOW_TRACKING_URI
  value: {{ include "prodcat.mlflowUri" . | quote }}
{{- end -}}

{{/* PRODCAT_CPUS, the CPUs a prodcat container plans its threads for: its CPU limit, else its
request (a pod with only a request has no cgroup limit to read, and os.cpu_count() is the
node's), rounded up to whole CPUs by the kubelet; nothing when neither is set (the process then
reads its cgroup). Include it beside prodcat.commonEnv in every prodcat container.
Takes the container's resources block. */}}
{{- define "prodcat.cpusEnv" -}}
{{- $field := "" -}}
{{- if (dig "limits" "cpu" "" .) -}}
{{- $field = "limits.cpu" -}}
{{- else if (dig "requests" "cpu" "" .) -}}
{{- $field = "requests.cpu" -}}
{{- end -}}
{{- if $field }}
- name: PRODCAT_CPUS
  valueFrom:
    resourceFieldRef:
      resource: {{ $field }}
      divisor: "1"
{{- end }}
{{- end -}}

{{/* Where the data API reaches the Kubernetes API server, as YAML {cidrs, ports}: the values, else
the addresses of the `kubernetes` EndpointSlice read at install (NetworkPolicies see the endpoint
after the Service's translation: its address and port, 6443 on kubeadm), else the private ranges
of fallbackCidrs. Never 0.0.0.0/0: the API's egress is not the Internet. */}}
{{- define "prodcat.kubeAPIServer" -}}
{{- $k := .Values.networkPolicy.kubeAPIServer -}}
{{- $cidrs := $k.cidrs -}}
{{- $ports := $k.ports -}}
{{- if not $cidrs -}}
{{- $slice := lookup "discovery.k8s.io/v1" "EndpointSlice" "default" "kubernetes" -}}
{{- range (dig "endpoints" list $slice) -}}
{{- range .addresses -}}
{{- $cidrs = append $cidrs (printf "%s/%s" . (ternary "128" "32" (contains ":" .))) -}}
{{- end -}}
{{- end -}}
{{- range (dig "ports" list $slice) -}}
{{- if not (has (int .port) $ports) -}}{{- $ports = append $ports (int .port) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "cidrs" (default $k.fallbackCidrs $cidrs) "ports" $ports) -}}
{{- end -}}

{{/* Scheduling fields (nodeSelector, tolerations, affinity) of a values block. */}}
{{- define "prodcat.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Names of the shared objects. */}}
{{- define "prodcat.mlflowName" -}}{{ include "prodcat.componentName" (dict "ctx" . "suffix" "mlflow") }}{{- end -}}
{{- define "prodcat.apiName" -}}{{ include "prodcat.componentName" (dict "ctx" . "suffix" "api") }}{{- end -}}
{{- define "prodcat.predictorName" -}}{{ include "prodcat.componentName" (dict "ctx" . "suffix" "predictor") }}{{- end -}}
{{- define "prodcat.runServiceAccountName" -}}{{ include "prodcat.componentName" (dict "ctx" . "suffix" "run") }}{{- end -}}
{{- define "prodcat.jobTemplatesName" -}}{{ include "prodcat.componentName" (dict "ctx" . "suffix" "job-templates") }}{{- end -}}

{{/* The predictor's in-cluster Service: KServe names it <isvc>-predictor; the fallback Service uses the same name. */}}
{{- define "prodcat.predictorServiceName" -}}{{ include "prodcat.predictorName" . }}{{- end -}}

{{/* PVC names (existing claims win). */}}
{{- define "prodcat.dataClaim" -}}
{{- default (include "prodcat.componentName" (dict "ctx" . "suffix" "data")) .Values.persistence.data.existingClaim -}}
{{- end -}}
{{- define "prodcat.modelsClaim" -}}
{{- default (include "prodcat.componentName" (dict "ctx" . "suffix" "models")) .Values.persistence.models.existingClaim -}}
{{- end -}}
{{- define "prodcat.mlflowClaim" -}}
{{- default (include "prodcat.mlflowName" .) .Values.mlflow.persistence.existingClaim -}}
{{- end -}}

{{/* MLflow tracking URI seen from inside the namespace. */}}
{{- define "prodcat.mlflowUri" -}}
{{- if .Values.mlflow.enabled -}}
{{- printf "http://%s:%d" (include "prodcat.mlflowName" .) (int .Values.mlflow.port) -}}
{{- else -}}
{{- required "mlflow.externalUri is required when mlflow.enabled is false" .Values.mlflow.externalUri -}}
{{- end -}}
{{- end -}}

{{/* TLS Secret of the routes. */}}
{{- define "prodcat.tlsSecretName" -}}
{{- default (include "prodcat.componentName" (dict "ctx" . "suffix" "tls")) .Values.tls.existingSecret -}}
{{- end -}}

{{/* Roles whose routes exist: users (predictor), devs (api, mlflow), admins (monitoring links). */}}
{{- define "prodcat.activeRoles" -}}
{{- $roles := list "users" "devs" -}}
{{- if .Values.monitoringLinks.enabled -}}{{- $roles = append $roles "admins" -}}{{- end -}}
{{- join "," $roles -}}
{{- end -}}

{{/* Secret holding a role's htpasswd. Takes (dict "ctx" $ "role" "users"). */}}
{{- define "prodcat.authSecretName" -}}
{{- $auth := index .ctx.Values.auth .role -}}
{{- default (include "prodcat.componentName" (dict "ctx" .ctx "suffix" (printf "auth-%s" .role))) $auth.existingSecret -}}
{{- end -}}

{{/* An nginx size ("8m", "512k", "1g", bytes without a unit) as a Kubernetes quantity ("8Mi"). */}}
{{- define "prodcat.nginxSize" -}}
{{- $size := lower (toString .) -}}
{{- $units := dict "k" "Ki" "m" "Mi" "g" "Gi" -}}
{{- $unit := substr (int (sub (len $size) 1)) (len $size) $size -}}
{{- if hasKey $units $unit -}}
{{- printf "%s%s" (trimSuffix $unit $size) (get $units $unit) -}}
{{- else -}}
{{- $size -}}
{{- end -}}
{{- end -}}

{{/* Annotations of an ingress-nginx Ingress. Takes (dict "ctx" $ "role" "users" "bodySize" "8m"). */}}
{{- define "prodcat.ingressAnnotations" -}}
{{- $v := .ctx.Values -}}
nginx.ingress.kubernetes.io/limit-rps: {{ $v.ingress.rateLimit.rps | quote }}
nginx.ingress.kubernetes.io/limit-burst-multiplier: {{ $v.ingress.rateLimit.burstMultiplier | quote }}
nginx.ingress.kubernetes.io/limit-connections: {{ $v.ingress.rateLimit.connections | quote }}
nginx.ingress.kubernetes.io/proxy-body-size: {{ .bodySize | quote }}
{{- if $v.tls.enabled }}
nginx.ingress.kubernetes.io/ssl-redirect: "true"
nginx.ingress.kubernetes.io/force-ssl-redirect: "true"
{{- end }}
{{- if $v.auth.enabled }}
nginx.ingress.kubernetes.io/auth-type: basic
nginx.ingress.kubernetes.io/auth-secret: {{ include "prodcat.authSecretName" (dict "ctx" .ctx "role" .role) }}
nginx.ingress.kubernetes.io/auth-secret-type: auth-file
nginx.ingress.kubernetes.io/auth-realm: {{ printf "prodcat %s" .role | quote }}
{{- end }}
{{- with $v.ingress.annotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* One ingress-nginx Ingress. Takes (dict "ctx" $ "component" "predictor" "role" "users" "host" "…"
"service" "…" "port" 80 "bodySize" "8m"). */}}
{{- define "prodcat.ingress" -}}
{{- $v := .ctx.Values -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "prodcat.componentName" (dict "ctx" .ctx "suffix" .component) }}
  labels:
    {{- include "prodcat.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
  annotations:
    {{- include "prodcat.ingressAnnotations" . | nindent 4 }}
spec:
  ingressClassName: {{ $v.ingress.className }}
  {{- if $v.tls.enabled }}
  tls:
    - hosts:
        - {{ .host | quote }}
      secretName: {{ include "prodcat.tlsSecretName" .ctx }}
  {{- end }}
  rules:
    - host: {{ .host | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ .service }}
                port:
                  number: {{ .port }}
{{- end -}}

{{/* The run Job of a stage: the ONE definition behind the ConfigMap <fullname>-job-templates and the
retraining CronJob. The runner sets metadata.name (placeholder RUN_NAME), adds the label
prodcat.io/run-id and replaces the container's args. Takes (dict "ctx" $ "stage" "train"). */}}
{{- define "prodcat.runJob" -}}
{{- $ctx := .ctx -}}
{{- $v := $ctx.Values -}}
{{- $stage := .stage -}}
{{- $job := index $v.jobs $stage -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: RUN_NAME
  labels:
    {{- include "prodcat.labels" (dict "ctx" $ctx "component" $stage) | nindent 4 }}
    prodcat.io/stage: {{ $stage }}
spec:
  {{- if eq $stage "batch" }}
  # One pod per shard; each reads its shard from JOB_COMPLETION_INDEX. A shard retries on its
  # own (backoffLimitPerIndex) and one whose part exists is skipped, so a retry redoes only it.
  completionMode: Indexed
  completions: {{ $job.shards }}
  parallelism: {{ min $job.parallelism $job.shards }}
  backoffLimitPerIndex: {{ $job.backoffLimitPerIndex }}
  maxFailedIndexes: {{ $job.maxFailedIndexes }}
  {{- else }}
  backoffLimit: {{ $v.jobs.backoffLimit }}
  {{- end }}
  # Bad input (exit 2) fails at once: a retry would fail the same way. A pod evicted or
  # preempted does not count as a failure: its replacement resumes the run.
  podFailurePolicy:
    rules:
      - action: FailJob
        onExitCodes:
          containerName: run
          operator: In
          values: [2]
      - action: Ignore
        onPodConditions:
          - type: DisruptionTarget
            status: "True"
  activeDeadlineSeconds: {{ $job.activeDeadlineSeconds }}
  ttlSecondsAfterFinished: {{ $v.jobs.ttlSecondsAfterFinished }}
  template:
    metadata:
      labels:
        {{- include "prodcat.labels" (dict "ctx" $ctx "component" $stage) | nindent 8 }}
        prodcat.io/stage: {{ $stage }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ include "prodcat.runServiceAccountName" $ctx }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with (include "prodcat.imagePullSecrets" $ctx | trim) }}{{ . | nindent 6 }}{{- end }}
      {{- include "prodcat.podSecurityContext" $ctx | nindent 6 }}
      {{- with (include "prodcat.scheduling" $v.jobs | trim) }}{{ . | nindent 6 }}{{- end }}
      containers:
        - name: run
          image: {{ include "prodcat.image" (dict "ctx" $ctx "image" (eq $stage "batch" | ternary "predict" $stage)) }}
          imagePullPolicy: {{ $v.images.pullPolicy }}
          command: ["prodcat"]
          args:
            {{- toYaml $job.args | nindent 12 }}
          env:
            {{- include "prodcat.commonEnv" $ctx | nindent 12 }}
            {{- include "prodcat.cpusEnv" $job.resources | nindent 12 }}
            {{- if eq $stage "train" }}
            - name: TRAIN_PREPARED_DIR
              value: /data/prepared
            - name: TRAIN_MODELS_DIR
              value: /artifacts/models
            # A pod the Job starts again after a kill has the same Job name: it resumes the
            # run from its last checkpoint on the models volume instead of starting over.
            - name: TRAIN_RUN_KEY
              valueFrom:
                fieldRef:
                  fieldPath: metadata.labels['batch.kubernetes.io/job-name']
            {{- else if eq $stage "monitor" }}
            {{- include "prodcat.monitorEnv" $ctx | nindent 12 }}
            {{- else if eq $stage "batch" }}
            - name: PREDICT_MODELS_DIR
              value: /artifacts/models
            - name: PREDICT_DOWNLOAD_DIR
              value: /tmp/model
            # A batch pod serves nothing: not the image's 0.0.0.0.
            - name: PREDICT_HOST
              value: 127.0.0.1
            {{- else }}
            - name: EVALUATE_PREPARED_DIR
              value: /data/prepared
            - name: EVALUATE_MODELS_DIR
              value: /artifacts/models
            - name: EVALUATE_RESULTS_DIR
              value: /artifacts/results
            {{- end }}
            {{- with $job.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          resources:
            {{- toYaml $job.resources | nindent 12 }}
          {{- include "prodcat.containerSecurityContext" $ctx | nindent 10 }}
          volumeMounts:
            {{- include "prodcat.tmpVolumeMount" $ctx | nindent 12 }}
            - name: data
              mountPath: /data
              readOnly: true
            - name: models
              mountPath: /artifacts
      volumes:
        {{- include "prodcat.tmpVolume" $ctx | nindent 8 }}
        - name: data
          persistentVolumeClaim:
            claimName: {{ include "prodcat.dataClaim" $ctx }}
        - name: models
          persistentVolumeClaim:
            claimName: {{ include "prodcat.modelsClaim" $ctx }}
{{- end -}}
