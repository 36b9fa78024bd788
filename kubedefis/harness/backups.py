"""Backups seen as any group's stack makes them (défis 15-16): through their own Jobs, on their own volume.

No tool of ours is asked which backups exist: a short-lived pod made from the group's own backup pod
(its image, security context and volume mounts, another command) lists the files on the backup
volume and says which are PostgreSQL dumps (pg_dump's custom or tar format, pg_dump / pg_dumpall's
plain SQL, each possibly gzip-compressed) and whether they hold the site's tables (a Django site's
database: SITE_MARKER). A backup is a
dump written while the Job that made it ran (file time between its start and its completion).
Jobs are made from the group's own templates, as `kubectl create job --from=cronjob/NAME` does.
Times are the API server's (Job status, managedFields, the Date of its answers) and the node's
file times, compared to the second with a little slack (both are truncated to the second).
"""

from __future__ import annotations

import copy
import datetime
import email.utils
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from kubedefis.core import kube, manifests
from kubedefis.core.errors import KubedefisError
from kubedefis.core.waits import Check, wait_for

Obj = dict[str, Any]
# File times and API times are each truncated to the second, by two clocks (the node's, the API
# server's: one machine on kind, NTP-synchronised elsewhere).
SLACK = datetime.timedelta(seconds=2)
# A word found in a dump of a Django site's database and in no dump of another database (postgres,
# template1, a cache's): the table of applied migrations, which every migrated Django project has,
# whatever its apps (each group's own: never a table of ours). Custom and tar dumps carry table names
# uncompressed in their table of contents, plain dumps in their CREATE TABLE and COPY lines.
SITE_MARKER = "django_migrations"
LISTING_PREFIX = "KDDUMP"
# Run by `sh` (POSIX, busybox included) in the group's backup image: one line per file under the
# mount paths given, `KDDUMP <mtime> <bytes> <format> <site 0|1> <path>`.
LISTING_SCRIPT = r"""
marker=$1
shift
for dir in "$@"; do find "$dir" -type f 2>/dev/null; done | while IFS= read -r f; do
  info=$(stat -c '%Y %s' "$f" 2>/dev/null) || continue
  if [ "$(head -c 2 "$f" | od -An -tx1 | tr -d ' \n')" = 1f8b ]; then
    z=gz-; show() { gzip -dc "$1" 2>/dev/null; }
  else
    z=; show() { cat "$1"; }
  fi
  if [ "$(show "$f" | head -c 5)" = PGDMP ]; then kind=custom
  elif [ "$(show "$f" | head -c 262 | tail -c 5)" = ustar ]; then
    if [ "$(show "$f" | head -c 517 | tail -c 5)" = PGDMP ]; then kind=tar; else kind=archive; fi
  elif show "$f" | head -c 8192 | grep -q 'PostgreSQL database.*dump'; then kind=plain
  else kind=other
  fi
  if show "$f" | grep -q -e "$marker"; then site=1; else site=0; fi
  echo "KDDUMP $info $z$kind $site $f"
done
"""
LOGICAL_FORMATS = ("custom", "tar", "plain")


@dataclass(frozen=True)
class DumpFile:
    """A file on a backup volume, as the listing pod saw it."""

    path: str
    mtime: int  # seconds since the epoch (the node's clock)
    size: int
    format: str  # custom, tar, plain (PostgreSQL dumps), archive, other; gz- when gzip-compressed
    site: bool  # holds a Django site's tables (SITE_MARKER found in its content)

    @property
    def logical(self) -> bool:
        """A PostgreSQL logical dump (pg_dump / pg_dumpall), not empty."""
        return self.size > 0 and self.format.removeprefix("gz-") in LOGICAL_FORMATS

    @property
    def time(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.mtime, datetime.UTC)

    def __str__(self) -> str:
        tables = ", site tables" if self.site else ""
        return f"{self.path} ({self.format}, {self.size} bytes, {self.time:%H:%M:%S}{tables})"


def parse_listing(text: str) -> list[DumpFile]:
    """The files of LISTING_SCRIPT's output (other lines ignored)."""
    files = []
    for line in text.splitlines():
        parts = line.split(" ", 5)
        if len(parts) != 6 or parts[0] != LISTING_PREFIX or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        files.append(DumpFile(parts[5], int(parts[1]), int(parts[2]), parts[3], parts[4] == "1"))
    return files


def site_dumps(files: list[DumpFile]) -> list[DumpFile]:
    """The logical dumps holding the site's tables, oldest first."""
    return sorted((f for f in files if f.logical and f.site), key=lambda f: (f.mtime, f.path))


def written_between(
    files: list[DumpFile], start: datetime.datetime, end: datetime.datetime, slack: datetime.timedelta = SLACK
) -> list[DumpFile]:
    """The files last written between start and end (a Job's run), give or take the slack."""
    low, high = start - slack, end + slack
    return [f for f in files if low <= f.time <= high]


def describe(files: list[DumpFile]) -> str:
    return "; ".join(map(str, files)) or "no file"


# --- times -----------------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime.datetime | None:
    """A Kubernetes time (client model datetime, or RFC 3339 text in a dict), None when unset."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def server_time(k: kube.Kube, namespace: str) -> datetime.datetime:
    """The API server's clock now (the Date of one of its answers), truncated to the second."""
    _, _, headers = k.core.list_namespaced_config_map_with_http_info(namespace, limit=1)
    date = {key.lower(): value for key, value in (headers or {}).items()}.get("date")
    if not date:
        raise KubedefisError("the API server's answer carries no Date header: no server time to compare with")
    return email.utils.parsedate_to_datetime(date).astimezone(datetime.UTC)


def job_times(job: Obj) -> tuple[datetime.datetime | None, datetime.datetime | None, datetime.datetime | None]:
    """(created, started, completed) of a Job dict."""
    status = job.get("status") or {}
    return (
        parse_time(job["metadata"].get("creationTimestamp")),
        parse_time(status.get("startTime")),
        parse_time(status.get("completionTime")),
    )


def job_succeeded(job: Obj) -> bool:
    status = job.get("status") or {}
    complete = any(c.get("type") == "Complete" and c.get("status") == "True" for c in status.get("conditions") or [])
    return complete or bool(status.get("succeeded"))


def is_hook(obj: Obj) -> bool:
    return "helm.sh/hook" in (obj.get("metadata", {}).get("annotations") or {})


def hook_events(obj: Obj) -> set[str]:
    text = (obj.get("metadata", {}).get("annotations") or {}).get("helm.sh/hook", "")
    return {e.strip() for e in text.split(",") if e.strip()}


def helm_writes_since(objects: list[Obj], since: datetime.datetime) -> list[tuple[datetime.datetime, str]]:
    """When Helm wrote the release's own objects (not its hooks, not its release records) since a time.

    The API server records each writer's last write per object (managedFields, to the second): what
    an upgrade applied carries Helm's time of applying it.
    """
    found = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if is_hook(obj) or obj.get("type") == "helm.sh/release.v1" or (meta.get("labels") or {}).get("owner") == "helm":
            continue
        for entry in meta.get("managedFields") or []:
            when = parse_time(entry.get("time"))
            if entry.get("manager") == "helm" and when is not None and when >= since:
                found.append((when, f"{obj.get('kind')}/{meta.get('name')}"))
    return sorted(found)


RELEASE_KINDS = (
    ("core", "list_namespaced_config_map", "ConfigMap"),
    ("core", "list_namespaced_secret", "Secret"),
    ("core", "list_namespaced_service", "Service"),
    ("core", "list_namespaced_persistent_volume_claim", "PersistentVolumeClaim"),
    ("core", "list_namespaced_service_account", "ServiceAccount"),
    ("apps", "list_namespaced_deployment", "Deployment"),
    ("apps", "list_namespaced_stateful_set", "StatefulSet"),
    ("batch", "list_namespaced_job", "Job"),
    ("batch", "list_namespaced_cron_job", "CronJob"),
    ("networking", "list_namespaced_ingress", "Ingress"),
    ("networking", "list_namespaced_network_policy", "NetworkPolicy"),
)


def namespace_objects(k: kube.Kube, namespace: str) -> list[Obj]:
    """The objects of the kinds a chart usually renders, as dicts (managedFields included)."""
    out = []
    for api, method, kind in RELEASE_KINDS:
        for item in getattr(getattr(k, api), method)(namespace).items:
            obj = manifests.live(item)
            obj["kind"] = kind
            out.append(obj)
    return out


# --- Jobs made from the group's templates -----------------------------------------------------------

CONTROLLER_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name")


def job_spec(obj: Obj) -> Obj:
    """A Job spec to make another Job from: a CronJob's jobTemplate, or a (live) Job's own spec without what
    its controller added (selector, controller labels)."""
    if obj.get("kind") == "CronJob":
        spec = copy.deepcopy(obj["spec"]["jobTemplate"]["spec"])
    else:
        spec = copy.deepcopy(obj["spec"])
    spec.pop("selector", None)
    spec.pop("manualSelector", None)
    template = spec.setdefault("template", {})
    labels = (template.setdefault("metadata", {}) or {}).get("labels") or {}
    template["metadata"]["labels"] = {k: v for k, v in labels.items() if k not in CONTROLLER_LABELS}
    return spec


def claims_of(pod_spec: Obj) -> dict[str, str]:
    """volume name -> claim name, for the pod's volumes backed by a PersistentVolumeClaim."""
    return {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod_spec.get("volumes") or []
        if "persistentVolumeClaim" in v
    }


def claim_container(pod_spec: Obj, claims: set[str] | None = None) -> tuple[int, list[str]]:
    """The first container mounting one of these claims (all the pod's, by default), and where it mounts them."""
    volumes = claims_of(pod_spec)
    wanted = {name for name, claim in volumes.items() if claims is None or claim in claims}
    for index, container in enumerate(pod_spec.get("containers") or []):
        paths = [m["mountPath"] for m in container.get("volumeMounts") or [] if m.get("name") in wanted]
        if paths:
            return index, paths
    raise KubedefisError(f"no container of the pod mounts the claims {sorted(claims or volumes.values())}")


def with_command(spec: Obj, command: list[str], claims: set[str] | None = None) -> Obj:
    """A Job spec whose container on the backup volume runs `command` (once: no retry), alone."""
    spec = copy.deepcopy(spec)
    pod = spec["template"]["spec"]
    index, _ = claim_container(pod, claims)
    container = pod["containers"][index]
    container["command"] = command
    container.pop("args", None)
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        container.pop(probe, None)
    pod["containers"] = [container]
    pod.pop("initContainers", None)
    pod["restartPolicy"] = "Never"
    spec["backoffLimit"] = 0
    spec.pop("completions", None)
    spec.pop("parallelism", None)
    return spec


def job_object(name: str, spec: Obj, *, owner: Obj | None = None, ttl: int = 3600) -> Obj:
    """A Job from a spec; with a CronJob as owner, what `kubectl create job --from=cronjob/...` makes."""
    spec = copy.deepcopy(spec)
    spec["ttlSecondsAfterFinished"] = ttl
    labels = dict(spec["template"]["metadata"].get("labels") or {})
    metadata: Obj = {"name": name[:63].rstrip("-."), "labels": labels}
    if owner is not None:
        metadata["annotations"] = {"cronjob.kubernetes.io/instantiate": "manual"}
        metadata["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
            }
        ]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


def unique(prefix: str) -> str:
    """A fresh object name starting with prefix (made a valid name: lower case, letters, digits and dashes)."""
    valid = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:40].rstrip("-")
    return f"{valid}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Finished:
    job: Obj
    succeeded: bool
    log: str

    @property
    def name(self) -> str:
        return str(self.job["metadata"]["name"])


def run_job(k: kube.Kube, namespace: str, job: Obj, *, timeout: float, delete: bool = True, tail: int = 60) -> Finished:
    """Create a Job, wait until it completes or fails (its own verdict), return it with its pods' logs."""
    name = job["metadata"]["name"]
    k.batch.create_namespaced_job(namespace, job)

    def done() -> Check[Obj]:
        current = manifests.live(k.batch.read_namespaced_job(name, namespace))
        conditions = {c["type"]: c["status"] for c in (current.get("status") or {}).get("conditions") or []}
        finished = conditions.get("Complete") == "True" or conditions.get("Failed") == "True"
        return Check(finished, current, f"job {name}: conditions {conditions or 'none yet'}")

    try:
        found = wait_for(
            f"job {name}",
            done,
            timeout=timeout,
            evidence=lambda: kube.evidence(k, namespace, name) + "\n" + kube.pod_logs(k, namespace, f"job-name={name}"),
        )
        assert found is not None
        return Finished(found, job_succeeded(found), kube.pod_logs(k, namespace, f"job-name={name}", tail=tail))
    finally:
        if delete:
            try:
                k.batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
            except ApiException as exc:
                if exc.status not in (403, 404):  # not allowed: its ttlSecondsAfterFinished removes it
                    raise


def list_dumps(
    k: kube.Kube, namespace: str, source: Obj, *, timeout: float, claims: set[str] | None = None
) -> list[DumpFile]:
    """The files on the backup volume(s) of a Job or CronJob (dict), listed by a pod made from its own pod."""
    spec = job_spec(source)
    index, paths = claim_container(spec["template"]["spec"], claims)
    container = spec["template"]["spec"]["containers"][index]
    for mount in container.get("volumeMounts") or []:
        if mount["mountPath"] in paths:
            mount["readOnly"] = True
    spec = with_command(spec, ["sh", "-c", LISTING_SCRIPT, "sh", SITE_MARKER, *paths], claims)
    spec["template"]["metadata"]["labels"] = {
        **spec["template"]["metadata"].get("labels", {}),
        "kubedefis.io/probe": "backup-listing",
    }
    done = run_job(k, namespace, job_object(unique("kd-backup-listing"), spec, ttl=600), timeout=timeout, tail=5000)
    if not done.succeeded:
        raise KubedefisError(f"the listing of {paths} failed (job {done.name}):\n{done.log}")
    return parse_listing(done.log)


# --- what ran during an operation -------------------------------------------------------------------


class JobRecorder:
    """Every Job of a namespace as last seen while a block runs (a watch: hook Jobs that Helm deletes as soon
    as they succeed are seen with their final status first)."""

    def __init__(self, k: kube.Kube, namespace: str) -> None:
        self.k, self.namespace = k, namespace
        self.jobs: dict[str, Obj] = {}  # uid -> the Job's last state
        self.before: set[str] = set()  # the uids that existed when the block started
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"jobs-{namespace}", daemon=True)
        self._version = ""
        self._caught_up = threading.Event()  # never set: its wait() paces the catch-up loop

    def __enter__(self) -> JobRecorder:
        self._relist()
        self.before = set(self.jobs)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # the last events (a hook Job's completion just before `helm upgrade` returned) are read first
        self._settle()
        self._stop.set()
        self._thread.join(timeout=15)
        if self._error is not None and exc[0] is None:
            raise KubedefisError(f"watching the Jobs of {self.namespace} failed: {self._error}") from self._error

    def _keep(self, item: Any) -> None:
        obj = manifests.live(item)
        obj["kind"] = "Job"
        self.jobs[obj["metadata"]["uid"]] = obj

    def _settle(self, catch_up: float = 2.0) -> None:
        """The Jobs as they are now, and the watch's last events (a Job deleted just before, final status first)
        read for at most `catch_up` seconds (until the watch reached the version of this listing)."""
        listed = self.k.batch.list_namespaced_job(self.namespace)
        for item in listed.items:
            self._keep(item)
        target = listed.metadata.resource_version or ""
        deadline = time.monotonic() + catch_up
        while self._thread.is_alive() and time.monotonic() < deadline:
            if target.isdigit() and self._version.isdigit() and int(self._version) >= int(target):
                return
            self._caught_up.wait(0.1)

    def _relist(self) -> None:
        listed = self.k.batch.list_namespaced_job(self.namespace)
        self._version = listed.metadata.resource_version
        for item in listed.items:
            self._keep(item)

    def _run(self) -> None:
        while not self._stop.is_set():
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    self.k.batch.list_namespaced_job,
                    self.namespace,
                    resource_version=self._version,
                    timeout_seconds=5,
                ):
                    item = event["object"]
                    self._version = item.metadata.resource_version or self._version
                    self._keep(item)
                    if self._stop.is_set():
                        break
            except ApiException as exc:
                if exc.status != 410:  # 410: the version is too old, list again
                    self._error = exc
                    return
                self._relist()
            except Exception:  # a dropped connection, an event of another shape: list again, watch on
                if self._stop.wait(1):
                    return
                try:
                    self._relist()
                except Exception as exc:
                    self._error = exc
                    return
            finally:
                stream.stop()

    def started(self) -> list[Obj]:
        """The Jobs created while the block ran, oldest first."""
        new = [j for uid, j in self.jobs.items() if uid not in self.before]
        return sorted(new, key=lambda j: (str(j["metadata"].get("creationTimestamp")), j["metadata"]["name"]))
