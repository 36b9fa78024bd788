{{/*
kubedefis.djangoDeployment: the Deployment of one Django component (api or public); both run
the same code from their own image (`<repository>/api`, `<repository>/public`), each serving its
half of the URLs. Call with (dict "ctx" $ "component" "api").
*/}}
{{- define "kubedefis.djangoDeployment" -}}
{{- $ctx := .ctx -}}
{{- $component := .component -}}
{{- $values := index $ctx.Values $component -}}
{{- $django := $ctx.Values.django -}}
{{- $probes := $ctx.Values.probes.django -}}
{{- $fullname := include "kubedefis.fullname" $ctx -}}
{{- $selector := dict "ctx" $ctx "component" $component -}}
{{- if and (eq (toString $django.rollingUpdate.maxSurge) "0") (eq (toString $django.rollingUpdate.maxUnavailable) "0") }}
{{- fail "django.rollingUpdate: maxSurge and maxUnavailable cannot both be 0" }}
{{- end }}
{{- if and (gt (int $django.preStopSleepSeconds) 0) (le (int $django.terminationGracePeriodSeconds) (int $django.preStopSleepSeconds)) }}
{{- fail "django.terminationGracePeriodSeconds must be larger than django.preStopSleepSeconds" }}
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}-{{ $component }}
  labels:
    {{- include "kubedefis.labels" $selector | nindent 4 }}
spec:
  {{- if not $ctx.Values.autoscaling.enabled }}
  replicas: {{ $values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "kubedefis.selectorLabels" $selector | nindent 6 }}
  # Zero-downtime rolling update: a new pod must be Ready before an old one is stopped.
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: {{ $django.rollingUpdate.maxSurge }}
      maxUnavailable: {{ $django.rollingUpdate.maxUnavailable }}
  template:
    metadata:
      labels:
        {{- include "kubedefis.labels" $selector | nindent 8 }}
      annotations:
        {{- include "kubedefis.checksums" $ctx | nindent 8 }}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $django.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "kubedefis.podSecurityContext" (dict "uid" 10001) | nindent 8 }}
      {{- include "kubedefis.imagePullSecrets" $ctx | nindent 6 }}
      # Spread the replicas over the nodes when there are several (never blocks scheduling).
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "kubedefis.selectorLabels" $selector | nindent 14 }}
      {{- if eq $django.server "runserver" }}
      # The development server asks the database for unapplied migrations as it starts and exits
      # when it cannot reach it (gunicorn starts without it): it waits for PostgreSQL first.
      initContainers:
        - name: wait-for-db
          image: {{ include "kubedefis.image" $selector }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          command: ["python", "manage.py", "wait_for_db", "--timeout", "{{ $ctx.Values.migration.waitTimeoutSeconds }}"]
          {{- include "kubedefis.djangoEnv" $ctx | nindent 10 }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- include "kubedefis.containerSecurityContext" $ctx | nindent 12 }}
      {{- end }}
      containers:
        - name: {{ $component }}
          image: {{ include "kubedefis.image" $selector }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          {{- if eq $django.server "runserver" }}
          # Défi 17's naive profile: Django's development server, as the course reference runs
          # it (one thread per connection, no timeout, no limit). Never in production.
          command: ["python", "manage.py", "runserver", "0.0.0.0:8000", "--noreload"]
          {{- end }}
          ports:
            - name: http
              containerPort: 8000
              protocol: TCP
          {{- include "kubedefis.djangoEnv" $ctx | nindent 10 }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- include "kubedefis.containerSecurityContext" $ctx | nindent 12 }}
          {{- if $ctx.Values.probes.enabled }}
          # HTTP probes: the site answers them itself. /healthz touches nothing but the process
          # (a database outage must not restart every pod); /readyz checks the database and
          # the migrations, so a pod only gets traffic when it can serve it.
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            {{- include "kubedefis.probeTiming" $probes.startup | nindent 12 }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            {{- include "kubedefis.probeTiming" $probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            {{- include "kubedefis.probeTiming" $probes.readiness | nindent 12 }}
          {{- end }}
          {{- if gt (int $django.preStopSleepSeconds) 0 }}
          # Keep serving while the endpoint removal reaches kube-proxy and the Ingress
          # controller; exec of the image's own `sleep` (no shell involved).
          lifecycle:
            preStop:
              exec:
                command: ["sleep", "{{ $django.preStopSleepSeconds }}"]
          {{- end }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        # Writable scratch space: the root filesystem is read-only (gunicorn's worker heartbeat
        # files and Python's temporary files go to /tmp).
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
{{- end }}

{{/*
kubedefis.djangoService: the ClusterIP Service in front of one Django component. ClusterIP,
not NodePort: only the Ingress controller and the pods of the cluster need to reach it.
Call with (dict "ctx" $ "component" "api").
*/}}
{{- define "kubedefis.djangoService" -}}
{{- $selector := dict "ctx" .ctx "component" .component -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "kubedefis.fullname" .ctx }}-{{ .component }}
  labels:
    {{- include "kubedefis.labels" $selector | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "kubedefis.selectorLabels" $selector | nindent 4 }}
  ports:
    - name: http
      port: {{ .ctx.Values.service.port }}
      targetPort: http
      protocol: TCP
{{- end }}

{{/*
kubedefis.apiCredentialsSecretName: the Secret holding the API credentials of the load tests and
the conformance checks (keys KUBEDEFIS_API_USERNAME, KUBEDEFIS_API_TOKEN).
*/}}
{{- define "kubedefis.apiCredentialsSecretName" -}}
{{ include "kubedefis.fullname" . }}-api-credentials
{{- end }}

{{/*
kubedefis.apiCredentials: the data of that Secret, as JSON: the username from values; the token
kept from the Secret already in the cluster (`lookup`), else generated once (`kd_` + 43 random
letters and digits, about 256 bits). Computed once per render: the Secret and the checksum of the
migration Job that registers it (templates/migrate-job.yaml, step api-token) must agree on one token.
*/}}
{{- define "kubedefis.apiCredentials" -}}
{{- if not (hasKey .Values "__kubedefisApiCredentials") }}
{{- $existing := dict }}
{{- $found := lookup "v1" "Secret" .Release.Namespace (include "kubedefis.apiCredentialsSecretName" .) }}
{{- if $found }}{{ $existing = default dict $found.data }}{{ end }}
{{- $token := "" }}
{{- if hasKey $existing "KUBEDEFIS_API_TOKEN" }}
{{- $token = index $existing "KUBEDEFIS_API_TOKEN" | b64dec }}
{{- else }}
{{- $token = printf "kd_%s" (randAlphaNum 43) }}
{{- end }}
{{- $data := dict "KUBEDEFIS_API_USERNAME" .Values.apiCredentials.username "KUBEDEFIS_API_TOKEN" $token }}
{{- $_ := set .Values "__kubedefisApiCredentials" $data }}
{{- end }}
{{- toJson (index .Values "__kubedefisApiCredentials") }}
{{- end }}
