{{- /* Named templates only (no manifest): the backup pods of défis 15-16. */ -}}

{{/*
kubedefis.backupClaim: the backup volume's claim, `<fullname>-backups`. Made by the prepare hook
Job (hook-prepare-job.yaml), not by a manifest of the release: `helm --wait` would wait for it
to be Bound, which a WaitForFirstConsumer class only does once a backup pod uses it, and it
must outlive `helm uninstall` anyway.
*/}}
{{- define "kubedefis.backupClaim" -}}
{{- printf "%s-backups" (include "kubedefis.fullname" .) }}
{{- end }}

{{/*
kubedefis.backupStorageNeeded: "true" when some part of the release writes backups.
*/}}
{{- define "kubedefis.backupStorageNeeded" -}}
{{- if or .Values.backup.enabled .Values.hooks.enabled }}true{{ end }}
{{- end }}

{{/*
kubedefis.backupPodSpec: the pod spec of every backup/restore pod: the postgres image (it has
pg_dump, pg_restore, pg_basebackup and the pg-backup / pg-restore scripts), connected to the
primary as the site's user, the backup volume at /backups.
Call with (dict "ctx" $ "command" (list "pg-backup" "logical" "scheduled") "wait" 60).
*/}}
{{- define "kubedefis.backupPodSpec" -}}
{{- $ctx := .ctx -}}
{{- $fullname := include "kubedefis.fullname" $ctx -}}
restartPolicy: Never
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- include "kubedefis.podSecurityContext" (dict "uid" 999) | nindent 2 }}
{{- include "kubedefis.imagePullSecrets" $ctx }}
containers:
  - name: backup
    image: {{ include "kubedefis.image" (dict "ctx" $ctx "component" "postgres") }}
    imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
    command: {{ toJson .command }}
    env:
      - name: PGHOST
        value: {{ include "kubedefis.databaseHost" $ctx | quote }}
      - name: PGPORT
        value: {{ include "kubedefis.databasePort" $ctx | quote }}
      - name: PGUSER
        valueFrom:
          configMapKeyRef:
            name: {{ $fullname }}-config
            key: POSTGRES_USER
      - name: PGDATABASE
        valueFrom:
          configMapKeyRef:
            name: {{ $fullname }}-config
            key: POSTGRES_DB
      - name: PGPASSWORD
        valueFrom:
          secretKeyRef:
            name: {{ include "kubedefis.secretName" $ctx }}
            key: POSTGRES_PASSWORD
      - name: PGCONNECT_TIMEOUT
        value: "5"
      - name: BACKUP_DIR
        value: /backups
      - name: BACKUP_KEEP
        value: {{ $ctx.Values.backup.keep | quote }}
      - name: BACKUP_BASE_KEEP
        value: {{ $ctx.Values.backup.baseBackup.keep | quote }}
      - name: BACKUP_WAIT_SECONDS
        value: {{ default 60 .wait | quote }}
      {{- if $ctx.Values.replication.enabled }}
      - name: BACKUP_REPLICATION_USER
        value: {{ $ctx.Values.replication.auth.replicationUser | quote }}
      - name: BACKUP_REPLICATION_PASSWORD
        valueFrom:
          secretKeyRef:
            name: {{ include "kubedefis.secretName" $ctx }}
            key: POSTGRES_REPLICATION_PASSWORD
      {{- end }}
    resources:
      {{- toYaml $ctx.Values.backup.resources | nindent 6 }}
    securityContext:
      {{- include "kubedefis.containerSecurityContext" $ctx | nindent 6 }}
    volumeMounts:
      - name: backups
        mountPath: /backups
      - name: tmp
        mountPath: /tmp
volumes:
  - name: backups
    persistentVolumeClaim:
      claimName: {{ include "kubedefis.backupClaim" $ctx }}
  - name: tmp
    emptyDir:
      sizeLimit: 16Mi
{{- end }}
