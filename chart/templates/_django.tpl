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
