{{- /* Named templates only (no manifest): the Python run by the défi 15 hook Jobs. */ -}}

{{/*
kubedefis.hookScript: the program of the prepare and check hooks, run by the site image's
Python (standard library only: nothing is installed at deploy time). It talks to the
Kubernetes API with the pod's ServiceAccount token (RBAC in hook-rbac.yaml).
  hook.py prepare   make the backup volume's claim if missing; record the release being
                    deployed in the ConfigMap <fullname>-release (phase deploying)
  hook.py check     compare the live ConfigMap (mounted at /config) with the one this revision
                    rendered (CONFIG_SHA256); record phase deployed in <fullname>-release
*/}}
{{- define "kubedefis.hookScript" -}}
import datetime
import hashlib
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

SA = "/var/run/secrets/kubernetes.io/serviceaccount"
ENV = os.environ


def api(method, path, body=None, patch=False):
    host = ENV["KUBERNETES_SERVICE_HOST"]
    host = f"[{host}]" if ":" in host else host
    url = f"https://{host}:{ENV['KUBERNETES_SERVICE_PORT']}{path}"
    with open(f"{SA}/token") as f:
        token = f.read().strip()
    kind = "application/merge-patch+json" if patch else "application/json"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": kind})
    context = ssl.create_default_context(cafile=f"{SA}/ca.crt")
    try:
        with urllib.request.urlopen(request, context=context, timeout=15) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fail(message):
    print(f"FAIL {message}", flush=True)
    sys.exit(1)


NS = ENV["NAMESPACE"]
LABELS = json.loads(ENV["LABELS"])


def ensure_claim():
    name = ENV.get("BACKUP_CLAIM")
    if not name:
        return
    path = f"/api/v1/namespaces/{NS}/persistentvolumeclaims"
    status, found = api("GET", f"{path}/{name}")
    if status == 200:
        print(f"ok   backup volume claim {name} exists ({found.get('status', {}).get('phase')})")
        return
    if status != 404:
        fail(f"reading claim {name}: HTTP {status} {found.get('message', '')}")
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": ENV["BACKUP_SIZE"]}}}
    if ENV.get("BACKUP_STORAGE_CLASS"):
        spec["storageClassName"] = ENV["BACKUP_STORAGE_CLASS"]
    # Helm's ownership marks let a later chart version manage the claim as a release resource;
    # resource-policy keep: never deleted with the release.
    meta = {"name": name, "labels": {**LABELS, "app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"helm.sh/resource-policy": "keep", "meta.helm.sh/release-name": ENV["RELEASE"],
                            "meta.helm.sh/release-namespace": NS}}
    status, made = api("POST", path, {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec})
    if status not in (200, 201):
        fail(f"creating claim {name}: HTTP {status} {made.get('message', '')}")
    print(f"ok   backup volume claim {name} created ({ENV['BACKUP_SIZE']})")


def record(phase, **extra):
    name = ENV.get("RELEASE_CONFIGMAP")
    if not name:
        return {}
    path = f"/api/v1/namespaces/{NS}/configmaps"
    status, found = api("GET", f"{path}/{name}")
    previous = (found.get("data") or {}) if status == 200 else {}
    data = {**previous, **extra, "phase": phase, "revision": ENV["REVISION"], "event": ENV["HOOK_EVENT"],
            "chartVersion": ENV["CHART_VERSION"], "appVersion": ENV["APP_VERSION"], "imageTag": ENV["IMAGE_TAG"],
            f"{phase}At": now()}
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": LABELS}, "data": data}
    if status == 200:
        status, _ = api("PUT", f"{path}/{name}", body)
    elif status == 404:
        status, _ = api("POST", path, body)
    if status not in (200, 201):
        fail(f"writing ConfigMap {name}: HTTP {status}")
    print(f"ok   {name}: revision {data['revision']} {phase}")
    return previous


def prepare():
    ensure_claim()
    previous = record("deploying", configSha256=ENV["CONFIG_SHA256"])
    if previous.get("revision"):
        print(f"     previous revision {previous['revision']}: {previous.get('phase')}")


def config_digest(folder):
    lines = []
    for key in sorted(os.listdir(folder)):
        path = os.path.join(folder, key)
        if key.startswith(".") or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            lines.append(f"{key}={f.read()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest(), len(lines)


def check():
    digest, keys = config_digest("/config")
    if digest != ENV["CONFIG_SHA256"]:
        fail(f"the live ConfigMap ({keys} keys, sha256 {digest[:12]}) is not the one revision {ENV['REVISION']} rendered ({ENV['CONFIG_SHA256'][:12]})")
    print(f"ok   live ConfigMap matches revision {ENV['REVISION']} ({keys} keys, sha256 {digest[:12]})")
    record("deployed", verifiedConfigSha256=digest)


{ "prepare": prepare, "check": check }[sys.argv[1]]()
{{- end }}

{{/*
kubedefis.configDigest: sha256 of the ConfigMap this revision renders, computed the way
hook.py check computes it from the mounted ConfigMap ("key=value\n" sorted by key).
*/}}
{{- define "kubedefis.configDigest" -}}
{{- $data := (include (print .Template.BasePath "/configmap.yaml") . | fromYaml).data -}}
{{- $text := "" -}}
{{- range $key := keys $data | sortAlpha }}
{{- $text = printf "%s%s=%s\n" $text $key (index $data $key) }}
{{- end }}
{{- $text | sha256sum }}
{{- end }}

{{/*
kubedefis.hookEnv: what hook.py needs to know about the release.
Call with (dict "ctx" $ "event" "pre-install,pre-upgrade").
*/}}
{{- define "kubedefis.hookEnv" -}}
{{- $ctx := .ctx -}}
- name: NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: RELEASE
  value: {{ $ctx.Release.Name | quote }}
- name: REVISION
  value: {{ $ctx.Release.Revision | quote }}
- name: HOOK_EVENT
  value: {{ .event | quote }}
- name: CHART_VERSION
  value: {{ $ctx.Chart.Version | quote }}
- name: APP_VERSION
  value: {{ $ctx.Chart.AppVersion | quote }}
- name: IMAGE_TAG
  value: {{ default $ctx.Chart.AppVersion $ctx.Values.image.tag | quote }}
- name: LABELS
  value: {{ include "kubedefis.selectorLabels" (dict "ctx" $ctx) | fromYaml | toJson | quote }}
- name: CONFIG_SHA256
  value: {{ include "kubedefis.configDigest" $ctx | quote }}
{{- if $ctx.Values.hooks.enabled }}
- name: RELEASE_CONFIGMAP
  value: {{ include "kubedefis.fullname" $ctx }}-release
{{- end }}
{{- end }}

{{/*
kubedefis.hookJobMeta: metadata of a hook Job. Fixed names + before-hook-creation: the next
run of the same hook deletes the previous Job first (no name collision), and the last run
stays around with its logs until then (or ttlSecondsAfterFinished).
Call with (dict "ctx" $ "name" "prepare" "events" "pre-install,pre-upgrade" "weight" -5).
*/}}
{{- define "kubedefis.hookJobMeta" -}}
name: {{ include "kubedefis.fullname" .ctx }}-hook-{{ .name }}
labels:
  {{- include "kubedefis.labels" (dict "ctx" .ctx "component" "hook") | nindent 2 }}
  kubedefis.io/hook: {{ .name }}
annotations:
  helm.sh/hook: {{ .events }}
  helm.sh/hook-weight: {{ .weight | quote }}
  helm.sh/hook-delete-policy: before-hook-creation
{{- end }}
