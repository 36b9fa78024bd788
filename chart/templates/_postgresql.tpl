{{/*
kubedefis.postgresqlPodTemplate: the pod template of PostgreSQL, shared by the StatefulSet
(défi 7) and the Deployment (défi 5). Image kubedefis/postgres (workloads/postgres): it runs as
uid 999, initialises PGDATA on first start and creates POSTGRES_USER/POSTGRES_DB. In a
Deployment the data directory is an emptyDir: it disappears with the pod, as défi 5's
"no volume" database does; the StatefulSet mounts its PersistentVolumeClaim `data` instead.
*/}}
{{- define "kubedefis.postgresqlPodTemplate" -}}
{{- $db := .Values.database -}}
{{- $probes := .Values.probes.database -}}
{{- $fullname := include "kubedefis.fullname" . -}}
{{- $selector := dict "ctx" . "component" "database" -}}
{{- $isready := list "pg_isready" "--quiet" "--host=/var/run/postgresql" (printf "--port=%v" $db.port) "--username=postgres" "--dbname=postgres" -}}
metadata:
  # No checksum annotations here: PostgreSQL only reads the ConfigMap and the Secret when it
  # initialises an empty volume, so a change to them must not restart the database.
  labels:
    {{- include "kubedefis.labels" $selector | nindent 4 }}
spec:
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ $db.terminationGracePeriodSeconds }}
  securityContext:
    {{- include "kubedefis.podSecurityContext" (dict "uid" 999) | nindent 4 }}
  {{- include "kubedefis.imagePullSecrets" . | nindent 2 }}
  containers:
    - name: postgresql
      image: {{ include "kubedefis.image" (dict "ctx" . "component" "postgres") }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      # Server settings as `postgres -c name=value` (the entrypoint adds listen_addresses).
      args:
        - -c
        - port={{ $db.port }}
        {{- range $name, $value := $db.config }}
        - -c
        - {{ printf "%s=%v" $name $value | quote }}
        {{- end }}
      env:
        - name: POSTGRES_ROLE
          value: primary
        - name: PGDATA
          value: /var/lib/postgresql/data/pgdata
        - name: POSTGRES_USER
          valueFrom:
            configMapKeyRef:
              name: {{ $fullname }}-config
              key: POSTGRES_USER
        - name: POSTGRES_DB
          valueFrom:
            configMapKeyRef:
              name: {{ $fullname }}-config
              key: POSTGRES_DB
        - name: POSTGRES_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ include "kubedefis.secretName" . }}
              key: POSTGRES_PASSWORD
      ports:
        - name: postgresql
          containerPort: {{ $db.port }}
          protocol: TCP
      resources:
        {{- toYaml $db.resources | nindent 8 }}
      securityContext:
        {{- include "kubedefis.containerSecurityContext" . | nindent 8 }}
      {{- if .Values.probes.enabled }}
      # exec probes: PostgreSQL speaks its own protocol, not HTTP, and a bare TCP check would
      # pass while the server still refuses connections (start-up, recovery, shutdown).
      # pg_isready asks the server itself over the local socket, without a password.
      startupProbe:
        exec:
          command: {{ toJson $isready }}
        {{- include "kubedefis.probeTiming" $probes.startup | nindent 8 }}
      livenessProbe:
        exec:
          command: {{ toJson $isready }}
        {{- include "kubedefis.probeTiming" $probes.liveness | nindent 8 }}
      readinessProbe:
        exec:
          command: {{ toJson $isready }}
        {{- include "kubedefis.probeTiming" $probes.readiness | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: data
          mountPath: /var/lib/postgresql/data
        - name: run
          mountPath: /var/run/postgresql
        - name: tmp
          mountPath: /tmp
  volumes:
    {{- if ne $db.kind "StatefulSet" }}
    # Défi 5: no persistent volume, the data lives and dies with the pod.
    - name: data
      emptyDir: {}
    {{- end }}
    # Unix socket and lock file (the root filesystem is read-only).
    - name: run
      emptyDir:
        sizeLimit: 1Mi
    - name: tmp
      emptyDir:
        sizeLimit: 16Mi
{{- end }}
