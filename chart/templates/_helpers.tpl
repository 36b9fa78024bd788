{{/*
kubedefis.name: the application name, for the `app.kubernetes.io/name` label.
The chart name unless nameOverride is set; at most 63 characters (a label value).
*/}}
{{- define "kubedefis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
kubedefis.fullname: the prefix of every resource name: `<fullname>-api`, `<fullname>-postgresql`...
The release name (or fullnameOverride), cut to 40 characters so that the longest derived name,
`<fullname>-postgresql-headless`, and the StatefulSet's pod names stay within Kubernetes' limits.
*/}}
{{- define "kubedefis.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/*
kubedefis.chart: `<chart>-<version>` for the `helm.sh/chart` label.
*/}}
{{- define "kubedefis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
kubedefis.version: the version of the running code (the image tag), for labels.
*/}}
{{- define "kubedefis.version" -}}
{{- default .Chart.AppVersion .Values.image.tag | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
kubedefis.selectorLabels: the labels that pick one component's pods (Deployment/StatefulSet
selectors, Services, NetworkPolicies, PDBs). They never change during a release's life.
Call with a dict: (dict "ctx" $ "component" "api"); resources shared by every component
(ConfigMap, Secret, Ingress) leave "component" out and get no component label.
*/}}
{{- define "kubedefis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubedefis.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/*
kubedefis.labels: every label of a resource of one component: the selector labels plus version,
manager and chart. Call with (dict "ctx" $ "component" "api").
*/}}
{{- define "kubedefis.labels" -}}
{{ include "kubedefis.selectorLabels" . }}
app.kubernetes.io/version: {{ include "kubedefis.version" .ctx | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: kubedefis
helm.sh/chart: {{ include "kubedefis.chart" .ctx }}
{{- end }}

{{/*
kubedefis.image: the full image reference of one component: [registry/]repository/component:tag.
Call with (dict "ctx" $ "component" "postgres").
*/}}
{{- define "kubedefis.image" -}}
{{- $img := .ctx.Values.image -}}
{{- $repo := printf "%s/%s" $img.repository .component -}}
{{- if $img.registry }}{{ $repo = printf "%s/%s" $img.registry $repo }}{{ end -}}
{{- $tag := default .ctx.Chart.AppVersion $img.tag -}}
{{- /* Défi 8: api and public may run their own tag (`public.imageTag`: a new release of one app). */ -}}
{{- $own := index .ctx.Values .component -}}
{{- if and (kindIs "map" $own) (get $own "imageTag") }}{{ $tag = get $own "imageTag" }}{{ end -}}
{{- printf "%s:%s" $repo $tag }}
{{- end }}

{{/*
kubedefis.host: the Ingress host: ingress.host, else django.<group>.<domain>.
*/}}
{{- define "kubedefis.host" -}}
{{- if .Values.ingress.host }}
{{- .Values.ingress.host }}
{{- else }}
{{- printf "django.%s.%s" .Values.ingress.group .Values.ingress.domain }}
{{- end }}
{{- end }}

{{/*
kubedefis.tlsSecretName: the Secret the Ingress serves its certificate from.
*/}}
{{- define "kubedefis.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "kubedefis.fullname" .)) .Values.ingress.tls.existingSecret }}
{{- end }}

{{/*
kubedefis.secretName: the Secret holding DJANGO_SECRET_KEY and POSTGRES_PASSWORD.
*/}}
{{- define "kubedefis.secretName" -}}
{{- default (printf "%s-secret" (include "kubedefis.fullname" .)) .Values.secret.existingSecret }}
{{- end }}

{{/*
kubedefis.databaseHost: where the site connects (POSTGRES_HOST).
- StatefulSet (défi 7): the pod's stable DNS name through the headless Service,
  `<fullname>-postgresql-0.<fullname>-postgresql-headless`. It always names pod 0, the primary:
  with read replicas added later (défi 12) a load-balancing ClusterIP would spread writes over
  replicas, while this name keeps pointing at the one writable server, and the connection goes
  straight to the pod without a kube-proxy hop. This is what a headless Service is for.
- Deployment (défi 5): the ClusterIP Service `<fullname>-postgresql` (the pod has no stable name).
- Replicated (défis 12-13): the replication subchart's write Service `<prefix>-postgresql-rw`,
  which follows the primary through a failover (a pod name would not).
database.host overrides them all (e.g. an external server, or défi 12's hand-made cluster).
*/}}
{{- define "kubedefis.databaseHost" -}}
{{- $fullname := include "kubedefis.fullname" . -}}
{{- if .Values.database.host }}
{{- .Values.database.host }}
{{- else if eq .Values.database.kind "Replicated" }}
{{- printf "%s-postgresql-rw" (include "kubedefis.replicationPrefix" .) }}
{{- else if eq .Values.database.kind "StatefulSet" }}
{{- printf "%s-postgresql-0.%s-postgresql-headless" $fullname $fullname }}
{{- else }}
{{- printf "%s-postgresql" $fullname }}
{{- end }}
{{- end }}

{{/*
kubedefis.replicationPrefix: the prefix of the replication subchart's resource names, by its
own rule (pgr.prefix): its fullnameOverride or the release name, cut to 40 then 33 characters.
*/}}
{{- define "kubedefis.replicationPrefix" -}}
{{- default .Release.Name .Values.replication.fullnameOverride | trunc 40 | trimSuffix "-" | trunc 33 | trimSuffix "-" }}
{{- end }}

{{/*
kubedefis.databaseReplicaHost: the read-only server for reads that may be stale
(POSTGRES_REPLICA_HOST): database.replicaHost, else the replication subchart's read Service
when it is on with readsToReplicas, else none (empty).
*/}}
{{- define "kubedefis.databaseReplicaHost" -}}
{{- if .Values.database.replicaHost }}
{{- .Values.database.replicaHost }}
{{- else if and (eq .Values.database.kind "Replicated") .Values.replication.readsToReplicas }}
{{- printf "%s-postgresql-ro" (include "kubedefis.replicationPrefix" .) }}
{{- end }}
{{- end }}

{{/*
kubedefis.databasePort: POSTGRES_PORT: the replication subchart's port when it runs the
database, database.port otherwise.
*/}}
{{- define "kubedefis.databasePort" -}}
{{- if eq .Values.database.kind "Replicated" }}{{ .Values.replication.port }}{{ else }}{{ .Values.database.port }}{{ end }}
{{- end }}

{{/*
kubedefis.cacheHost: the Redis Service (défi 14).
*/}}
{{- define "kubedefis.cacheHost" -}}
{{- printf "%s-redis" (include "kubedefis.fullname" .) }}
{{- end }}

{{/*
kubedefis.checkFeatures: refuses value combinations that would deploy something broken,
saying which values to change. Renders nothing. Called once, from configmap.yaml.
*/}}
{{- define "kubedefis.checkFeatures" -}}
{{- $v := .Values -}}
{{- if and (eq $v.database.kind "Replicated") (not $v.replication.enabled) }}
{{- fail "database.kind: Replicated needs replication.enabled: true (the replication subchart runs the database)" }}
{{- end }}
{{- if and $v.replication.enabled (ne $v.database.kind "Replicated") }}
{{- fail "replication.enabled: true needs database.kind: Replicated (one database, not two)" }}
{{- end }}
{{- if $v.replication.enabled }}
{{- $sub := $v.replication.image }}
{{- $tag := default .Chart.AppVersion $v.image.tag }}
{{- $subTag := default (index .Subcharts "replication").Chart.AppVersion $sub.tag }}
{{- if or (ne $tag $subTag) (ne $v.image.registry $sub.registry) (ne $v.image.repository $sub.repository) }}
{{- fail (printf "replication.image (%s/%s:%s) must name the same images as image (%s/%s:%s): set replication.image.registry, .repository and .tag like image" $sub.registry $sub.repository $subTag $v.image.registry $v.image.repository $tag) }}
{{- end }}
{{- if ne $v.fullnameOverride $v.replication.fullnameOverride }}
{{- fail "replication.fullnameOverride must equal fullnameOverride" }}
{{- end }}
{{- if and $v.secret.existingSecret (ne $v.secret.existingSecret $v.replication.auth.secret) }}
{{- fail "with secret.existingSecret, set replication.auth.secret to the same Secret (it must hold POSTGRES_REPLICATION_PASSWORD too)" }}
{{- end }}
{{- end }}
{{- if and $v.backup.baseBackup.enabled (not $v.replication.enabled) }}
{{- fail "backup.baseBackup needs replication.enabled: pg_basebackup connects as the replication role" }}
{{- end }}
{{- end }}

{{/*
kubedefis.secretData: the values of the chart's Secret, as a dict. Each value comes from
values.yaml if set, else from the Secret already in the cluster (lookup: upgrades keep what
install generated), else from randAlphaNum. The result is memoised for the rendering, so the
Secret and the checksum annotations of the pods see the same random values.
*/}}
{{- define "kubedefis.secretData" -}}
{{- if not (hasKey .Values "__kubedefisSecretData") }}
{{- $existing := dict }}
{{- $found := lookup "v1" "Secret" .Release.Namespace (printf "%s-secret" (include "kubedefis.fullname" .)) }}
{{- if $found }}{{ $existing = default dict $found.data }}{{ end }}
{{- $data := dict }}
{{- if .Values.django.secretKey }}
{{- $_ := set $data "DJANGO_SECRET_KEY" .Values.django.secretKey }}
{{- else if hasKey $existing "DJANGO_SECRET_KEY" }}
{{- $_ := set $data "DJANGO_SECRET_KEY" (index $existing "DJANGO_SECRET_KEY" | b64dec) }}
{{- else }}
{{- $_ := set $data "DJANGO_SECRET_KEY" (randAlphaNum 50) }}
{{- end }}
{{- if .Values.database.password }}
{{- $_ := set $data "POSTGRES_PASSWORD" .Values.database.password }}
{{- else if hasKey $existing "POSTGRES_PASSWORD" }}
{{- $_ := set $data "POSTGRES_PASSWORD" (index $existing "POSTGRES_PASSWORD" | b64dec) }}
{{- else }}
{{- $_ := set $data "POSTGRES_PASSWORD" (randAlphaNum 32) }}
{{- end }}
{{- /* Défis 12-13: the replication role's password (only generated, never needed by hand). */}}
{{- if .Values.replication.enabled }}
{{- if hasKey $existing "POSTGRES_REPLICATION_PASSWORD" }}
{{- $_ := set $data "POSTGRES_REPLICATION_PASSWORD" (index $existing "POSTGRES_REPLICATION_PASSWORD" | b64dec) }}
{{- else }}
{{- $_ := set $data "POSTGRES_REPLICATION_PASSWORD" (randAlphaNum 32) }}
{{- end }}
{{- end }}
{{- /* Défi 14: Redis's password, and the site's CACHE_URL that carries it (a secret too). */}}
{{- if .Values.cache.enabled }}
{{- if .Values.cache.password }}
{{- $_ := set $data "REDIS_PASSWORD" .Values.cache.password }}
{{- else if hasKey $existing "REDIS_PASSWORD" }}
{{- $_ := set $data "REDIS_PASSWORD" (index $existing "REDIS_PASSWORD" | b64dec) }}
{{- else }}
{{- $_ := set $data "REDIS_PASSWORD" (randAlphaNum 32) }}
{{- end }}
{{- $_ := set $data "CACHE_URL" (printf "redis://:%s@%s:%v/0" $data.REDIS_PASSWORD (include "kubedefis.cacheHost" .) .Values.cache.port) }}
{{- end }}
{{- $_ := set .Values "__kubedefisSecretData" $data }}
{{- end }}
{{- toJson (index .Values "__kubedefisSecretData") }}
{{- end }}

{{/*
kubedefis.checksums: pod annotations that change when the ConfigMap or the Secret change, so
that `helm upgrade` rolls the pods that read them (environment variables are only read at start).
*/}}
{{- define "kubedefis.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if .Values.secret.existingSecret }}
checksum/secret: {{ .Values.secret.existingSecret | sha256sum }}
{{- else }}
checksum/secret: {{ include "kubedefis.secretData" . | sha256sum }}
{{- end }}
{{- end }}

{{/*
kubedefis.podSecurityContext: the pod-level security settings shared by every pod.
Call with (dict "uid" 10001).
*/}}
{{- define "kubedefis.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
kubedefis.containerSecurityContext: the container-level settings shared by every container.
*/}}
{{- define "kubedefis.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
{{- end }}

{{/*
kubedefis.djangoEnv: the environment of every container running the site's code: the
ConfigMap as a whole, and the two secrets one by one.
*/}}
{{- define "kubedefis.djangoEnv" -}}
envFrom:
  - configMapRef:
      name: {{ include "kubedefis.fullname" . }}-config
env:
  - name: DJANGO_SECRET_KEY
    valueFrom:
      secretKeyRef:
        name: {{ include "kubedefis.secretName" . }}
        key: DJANGO_SECRET_KEY
  - name: POSTGRES_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "kubedefis.secretName" . }}
        key: POSTGRES_PASSWORD
{{- if .Values.cache.enabled }}
  # Défi 14: redis://:password@host:port/0, from the Secret since it holds the password.
  - name: CACHE_URL
    valueFrom:
      secretKeyRef:
        name: {{ include "kubedefis.secretName" . }}
        key: CACHE_URL
{{- end }}
{{- end }}

{{/*
kubedefis.imagePullSecrets: the pod's imagePullSecrets, if any.
*/}}
{{- define "kubedefis.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
kubedefis.probeTiming: the timing fields of one probe from values. Call with the probe's values.
*/}}
{{- define "kubedefis.probeTiming" -}}
{{- with .initialDelaySeconds }}
initialDelaySeconds: {{ . }}
{{- end }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
{{- end }}
