{{/*
pgr.parentFullname: the kubedefis chart's prefix (its ConfigMap `<it>-config` and Secret
`<it>-secret`): fullnameOverride or the release name, cut to 40 characters, its own rule.
*/}}
{{- define "pgr.parentFullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/*
pgr.prefix: the prefix of this chart's resource names. 33 characters at most so that
`<prefix>-postgresql-replica` stays within the 52 characters a StatefulSet name may have (its
pods get a `controller-revision-hash` label of the name plus 11 characters, at most 63).
*/}}
{{- define "pgr.prefix" -}}
{{- include "pgr.parentFullname" . | trunc 33 | trimSuffix "-" }}
{{- end }}

{{/*
Resource names. Primary and replica StatefulSets, their headless Services, the write (rw) and
read (ro) Services, and the topology ConfigMap that names the current primary.
*/}}
{{- define "pgr.primaryName" -}}{{ include "pgr.prefix" . }}-postgresql-primary{{- end }}
{{- define "pgr.replicaName" -}}{{ include "pgr.prefix" . }}-postgresql-replica{{- end }}
{{- define "pgr.rwName" -}}{{ include "pgr.prefix" . }}-postgresql-rw{{- end }}
{{- define "pgr.roName" -}}{{ include "pgr.prefix" . }}-postgresql-ro{{- end }}
{{- define "pgr.topologyName" -}}{{ include "pgr.prefix" . }}-postgresql-topology{{- end }}

{{/*
pgr.members: every pod of the cluster, primary StatefulSet first, as a list (JSON).
*/}}
{{- define "pgr.members" -}}
{{- $members := list (printf "%s-0" (include "pgr.primaryName" .)) }}
{{- range $i := until (int .Values.replicas) }}
{{- $members = append $members (printf "%s-%d" (include "pgr.replicaName" $) $i) }}
{{- end }}
{{- toJson $members }}
{{- end }}

{{/*
pgr.primaryPod: the pod that is the primary. `<primary StatefulSet>-0` at install; after a
failover (`kubedefis db promote`) the topology ConfigMap names the promoted replica, and an
upgrade keeps it (lookup), so `helm upgrade` never points the write Service back at a node
that is a replica now. A name that is no member any more (replicas scaled down) falls back
to the primary StatefulSet's pod.
*/}}
{{- define "pgr.primaryPod" -}}
{{- $default := printf "%s-0" (include "pgr.primaryName" .) }}
{{- $found := lookup "v1" "ConfigMap" .Release.Namespace (include "pgr.topologyName" .) }}
{{- $current := "" }}
{{- if and $found $found.data }}{{ $current = default "" $found.data.primary }}{{ end }}
{{- if has $current (include "pgr.members" . | fromJsonArray) }}
{{- $current }}
{{- else }}
{{- $default }}
{{- end }}
{{- end }}

{{/*
pgr.chart: `<chart>-<version>` for the helm.sh/chart label.
*/}}
{{- define "pgr.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
pgr.selectorLabels: the labels that pick the pods of one StatefulSet (member "primary" or
"replica"), or of the whole cluster (member empty). They never change in a release's life.
The name is `postgresql` whatever the chart is called (the parent aliases it `replication`);
the component is what the kubedefis chart and its graders look for: `database` for the primary
StatefulSet, `database-replica` for the replicas.
Call with (dict "ctx" $ "member" "replica").
*/}}
{{- define "pgr.selectorLabels" -}}
app.kubernetes.io/name: postgresql
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if eq .member "primary" }}
app.kubernetes.io/component: database
{{- else if eq .member "replica" }}
app.kubernetes.io/component: database-replica
{{- end }}
{{- end }}

{{/*
pgr.labels: selector labels plus version, manager, chart and part-of.
*/}}
{{- define "pgr.labels" -}}
{{ include "pgr.selectorLabels" . }}
app.kubernetes.io/version: {{ default .ctx.Chart.AppVersion .ctx.Values.image.tag | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: kubedefis
helm.sh/chart: {{ include "pgr.chart" .ctx }}
{{- end }}

{{/*
pgr.image: [registry/]repository/postgres:tag.
*/}}
{{- define "pgr.image" -}}
{{- $img := .Values.image -}}
{{- $repo := printf "%s/postgres" $img.repository -}}
{{- if $img.registry }}{{ $repo = printf "%s/%s" $img.registry $repo }}{{ end -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion $img.tag) }}
{{- end }}

{{- define "pgr.configMapName" -}}
{{- default (printf "%s-config" (include "pgr.parentFullname" .)) .Values.auth.configMap }}
{{- end }}

{{- define "pgr.secretName" -}}
{{- default (printf "%s-secret" (include "pgr.parentFullname" .)) .Values.auth.secret }}
{{- end }}

{{/*
pgr.probeTiming: the timing fields of one probe.
*/}}
{{- define "pgr.probeTiming" -}}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
{{- end }}

{{/*
pgr.statefulset: one of the two StatefulSets. Both run the same pod: POSTGRES_ROLE=auto makes
a node the primary when it is the pod the topology ConfigMap names, a replica otherwise, so a
promotion needs no change to either StatefulSet. Call with (dict "ctx" $ "member" "primary").
*/}}
{{- define "pgr.statefulset" -}}
{{- $ctx := .ctx -}}
{{- $v := $ctx.Values -}}
{{- $member := .member -}}
{{- $name := ternary (include "pgr.primaryName" $ctx) (include "pgr.replicaName" $ctx) (eq $member "primary") -}}
{{- $selector := dict "ctx" $ctx "member" $member -}}
{{- $primaryPod := include "pgr.primaryPod" $ctx -}}
{{- /* The role label is the starting state: the primary StatefulSet's pod is the primary
       unless a failover moved the role away (then `kubedefis db promote` relabels pods). */ -}}
{{- $role := "replica" -}}
{{- if and (eq $member "primary") (eq $primaryPod (printf "%s-0" $name)) }}{{ $role = "primary" }}{{ end -}}
{{- $probe := list "pg-probe" -}}
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ $name }}
  labels:
    {{- include "pgr.labels" $selector | nindent 4 }}
spec:
  replicas: {{ ternary 1 $v.replicas (eq $member "primary") }}
  serviceName: {{ $name }}-headless
  # Parallel: replicas do not wait for each other, each one waits for the primary itself.
  podManagementPolicy: Parallel
  revisionHistoryLimit: 5
  updateStrategy:
    type: RollingUpdate
  selector:
    matchLabels:
      {{- include "pgr.selectorLabels" $selector | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "pgr.labels" $selector | nindent 8 }}
        kubedefis.io/role: {{ $role }}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      securityContext:
        runAsNonRoot: true
        runAsUser: 999
        runAsGroup: 999
        fsGroup: 999
        fsGroupChangePolicy: OnRootMismatch
        seccompProfile:
          type: RuntimeDefault
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      # Spread the nodes of the cluster over the Kubernetes nodes when there are several.
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "pgr.selectorLabels" (dict "ctx" $ctx "member" "") | nindent 14 }}
      containers:
        - name: postgresql
          image: {{ include "pgr.image" $ctx }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          args:
            - -c
            - port={{ $v.port }}
            {{- if gt (int $v.synchronousStandbys) 0 }}
            - -c
            - synchronous_standby_names=ANY {{ $v.synchronousStandbys }} (*)
            {{- end }}
            {{- range $key, $value := $v.config }}
            - -c
            - {{ printf "%s=%v" $key $value | quote }}
            {{- end }}
          env:
            - name: POSTGRES_ROLE
              value: auto
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            # Read at every container start: after a promotion a restarted node takes its new role.
            - name: POSTGRES_PRIMARY_POD
              valueFrom:
                configMapKeyRef:
                  name: {{ include "pgr.topologyName" $ctx }}
                  key: primary
            - name: POSTGRES_PRIMARY_HOST
              value: {{ include "pgr.rwName" $ctx }}
            - name: POSTGRES_PRIMARY_PORT
              value: {{ $v.port | quote }}
            - name: PGPORT
              value: {{ $v.port | quote }}
            - name: PGDATA
              value: /var/lib/postgresql/data/pgdata
            - name: POSTGRES_USER
              valueFrom:
                configMapKeyRef:
                  name: {{ include "pgr.configMapName" $ctx }}
                  key: POSTGRES_USER
            - name: POSTGRES_DB
              valueFrom:
                configMapKeyRef:
                  name: {{ include "pgr.configMapName" $ctx }}
                  key: POSTGRES_DB
            - name: POSTGRES_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ include "pgr.secretName" $ctx }}
                  key: POSTGRES_PASSWORD
            - name: POSTGRES_REPLICATION_USER
              value: {{ $v.auth.replicationUser | quote }}
            - name: POSTGRES_REPLICATION_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ include "pgr.secretName" $ctx }}
                  key: POSTGRES_REPLICATION_PASSWORD
            - name: POSTGRES_REPLICATION_CIDRS
              value: {{ join " " $v.auth.replicationCIDRs | quote }}
            - name: PG_PROBE_MAX_LAG_BYTES
              value: {{ $v.replica.maxReadyLagBytes | int64 | quote }}
          ports:
            - name: postgresql
              containerPort: {{ $v.port }}
              protocol: TCP
          resources:
            {{- toYaml (index $v $member).resources | nindent 12 }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            privileged: false
            capabilities:
              drop:
                - ALL
          {{- if $v.probes.enabled }}
          # exec probes (pg-probe in the image): liveness only asks "does the server answer",
          # so a replica replaying a long WAL backlog is never restarted for it; readiness asks
          # "can it serve its role": a replica must stream, with a bounded replay lag.
          startupProbe:
            exec:
              command: {{ toJson (append $probe "startup") }}
            {{- include "pgr.probeTiming" $v.probes.startup | nindent 12 }}
          livenessProbe:
            exec:
              command: {{ toJson (append $probe "live") }}
            {{- include "pgr.probeTiming" $v.probes.liveness | nindent 12 }}
          readinessProbe:
            exec:
              command: {{ toJson (append $probe "ready") }}
            {{- include "pgr.probeTiming" $v.probes.readiness | nindent 12 }}
          {{- end }}
          volumeMounts:
            - name: data
              mountPath: /var/lib/postgresql/data
            - name: run
              mountPath: /var/run/postgresql
            - name: tmp
              mountPath: /tmp
      volumes:
        # Unix socket, lock file and the replication passfile (the root filesystem is read-only).
        - name: run
          emptyDir:
            sizeLimit: 1Mi
        - name: tmp
          emptyDir:
            sizeLimit: 16Mi
  # Kept when a pod, the StatefulSet or the release goes away (delete the claim to rebuild a
  # replica from the primary).
  volumeClaimTemplates:
    - apiVersion: v1
      kind: PersistentVolumeClaim
      metadata:
        name: data
        labels:
          {{- include "pgr.selectorLabels" $selector | nindent 10 }}
      spec:
        accessModes:
          - ReadWriteOnce
        {{- with $v.storage.storageClassName }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ $v.storage.size }}
{{- end }}

{{/*
pgr.headlessService: the governing Service of one StatefulSet: stable per-pod DNS names
`<pod>.<statefulset>-headless`, published before the pods are ready (a replica being built
still has a name). Call with (dict "ctx" $ "member" "primary").
*/}}
{{- define "pgr.headlessService" -}}
{{- $ctx := .ctx -}}
{{- $name := ternary (include "pgr.primaryName" $ctx) (include "pgr.replicaName" $ctx) (eq .member "primary") -}}
{{- $selector := dict "ctx" $ctx "member" .member -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}-headless
  labels:
    {{- include "pgr.labels" $selector | nindent 4 }}
spec:
  type: ClusterIP
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    {{- include "pgr.selectorLabels" $selector | nindent 4 }}
  ports:
    - name: postgresql
      port: {{ $ctx.Values.port }}
      targetPort: postgresql
      protocol: TCP
{{- end }}
