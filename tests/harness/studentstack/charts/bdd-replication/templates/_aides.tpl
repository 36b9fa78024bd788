{{/* Les étiquettes de nos pods de base: app=garagiste, tier=db (comme bdd), role=maitre|esclave. */}}
{{- define "bdd.etiquettes" -}}
app: garagiste
tier: db
role: {{ . }}
{{- end }}

{{/* Ce que l'image lit au premier démarrage (base, utilisateur) et pour la réplication. */}}
{{- define "bdd.env" -}}
- name: PGPORT
  value: {{ .Values.port | quote }}
- name: POSTGRES_DB
  value: {{ .Values.base | quote }}
- name: POSTGRES_USER
  value: {{ .Values.utilisateur | quote }}
- name: POSTGRES_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ .Values.secretSite }}, key: DB_PASSWORD}}
- name: POSTGRES_REPLICATION_USER
  value: {{ .Values.utilisateurReplication | quote }}
- name: POSTGRES_REPLICATION_PASSWORD
  valueFrom: {secretKeyRef: {name: garagiste-bdd-replication, key: MOT_DE_PASSE}}
{{- end }}

{{/* Le volume de chaque pod de base. */}}
{{- define "bdd.volume" -}}
volumeClaimTemplates:
  - metadata:
      name: donnees
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: {{ .Values.stockage }}
{{- end }}
