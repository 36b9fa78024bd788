{{/* Ce qu'il faut à un pod de sauvegarde: les DB_* de Django, le mot de passe, le volume /sauvegardes. */}}
{{- define "garagiste.sauvegarde.env" -}}
- name: DB_HOST
  valueFrom: {configMapKeyRef: {name: garagiste-env, key: DB_HOST}}
- name: DB_PORT
  valueFrom: {configMapKeyRef: {name: garagiste-env, key: DB_PORT}}
- name: DB_NAME
  valueFrom: {configMapKeyRef: {name: garagiste-env, key: DB_NAME}}
- name: DB_USER
  valueFrom: {configMapKeyRef: {name: garagiste-env, key: DB_USER}}
- name: PGPASSWORD
  valueFrom: {secretKeyRef: {name: garagiste-secret, key: DB_PASSWORD}}
{{- end }}

{{- define "garagiste.sauvegarde.volume" -}}
volumes:
  - name: sauvegardes
    persistentVolumeClaim:
      claimName: garagiste-sauvegardes
{{- end }}
