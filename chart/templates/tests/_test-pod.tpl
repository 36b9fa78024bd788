{{/*
kubedefis.testPod: a `helm test` pod running one of the scripts of files/tests/ with the site
image's own Python (nothing is pulled or installed at test time).
Call with (dict "ctx" $ "name" "http" "script" "files/tests/x.py" "args" (list ...)).
*/}}
{{- define "kubedefis.testPod" -}}
{{- $ctx := .ctx -}}
{{- $selector := dict "ctx" $ctx "component" "test" -}}
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "kubedefis.fullname" $ctx }}-test-{{ .name }}
  labels:
    {{- include "kubedefis.labels" $selector | nindent 4 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  securityContext:
    {{- include "kubedefis.podSecurityContext" (dict "uid" 10001) | nindent 4 }}
  {{- include "kubedefis.imagePullSecrets" $ctx | nindent 2 }}
  containers:
    - name: check
      image: {{ include "kubedefis.image" (dict "ctx" $ctx "component" $ctx.Values.tests.component) }}
      imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
      command:
        - python
        - -c
        - {{ $ctx.Files.Get .script | quote }}
        {{- range .args }}
        - {{ . | quote }}
        {{- end }}
      resources:
        requests:
          cpu: 50m
          memory: 64Mi
        limits:
          cpu: 200m
          memory: 128Mi
      securityContext:
        {{- include "kubedefis.containerSecurityContext" $ctx | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 16Mi
{{- end }}
