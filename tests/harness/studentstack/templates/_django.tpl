{{/* Our Django settings read DB_*, SECRET_KEY and REDIS_URL; the image's entrypoint names them its own way. */}}
{{- define "garagiste.env" -}}
- name: DB_HOST
  valueFrom: {configMapKeyRef: {name: garagiste-env, key: DB_HOST}}
- name: DB_PORT
  valueFrom: {configMapKeyRef: {name: garagiste-env, key: DB_PORT}}
- name: DB_NAME
  valueFrom: {configMapKeyRef: {name: garagiste-env, key: DB_NAME}}
- name: DB_USER
  valueFrom: {configMapKeyRef: {name: garagiste-env, key: DB_USER}}
- name: ALLOWED_HOSTS
  valueFrom: {configMapKeyRef: {name: garagiste-env, key: ALLOWED_HOSTS}}
- name: DEBUG
  valueFrom: {configMapKeyRef: {name: garagiste-env, key: DEBUG}}
- name: DB_PASSWORD
  valueFrom: {secretKeyRef: {name: garagiste-secret, key: DB_PASSWORD}}
- name: SECRET_KEY
  valueFrom: {secretKeyRef: {name: garagiste-secret, key: SECRET_KEY}}
{{- if .Values.replication.enabled }}
- name: DB_HOST_LECTURE
  valueFrom: {configMapKeyRef: {name: garagiste-env, key: DB_HOST_LECTURE}}
{{- end }}
{{- if .Values.cache.enabled }}
- name: REDIS_URL
  valueFrom: {secretKeyRef: {name: garagiste-cache, key: REDIS_URL}}
{{- end }}
{{- end }}

{{/* (list . "commande"): les variables de l'image, puis la commande. Défi 13: lectures sur les esclaves. */}}
{{- define "garagiste.run" -}}
export POSTGRES_HOST="$DB_HOST" POSTGRES_PORT="$DB_PORT" POSTGRES_DB="$DB_NAME" POSTGRES_USER="$DB_USER" POSTGRES_PASSWORD="$DB_PASSWORD" DJANGO_SECRET_KEY="$SECRET_KEY" DJANGO_ALLOWED_HOSTS="$ALLOWED_HOSTS" DJANGO_DEBUG="$DEBUG" CACHE_URL="${REDIS_URL:-}";
{{- if (index . 0).Values.replication.enabled }} export POSTGRES_REPLICA_HOST="$DB_HOST_LECTURE" POSTGRES_REPLICA_PORT="$DB_PORT";{{ end }} exec {{ index . 1 }}
{{- end }}
