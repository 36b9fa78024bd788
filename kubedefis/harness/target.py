"""What the suite grades: which cluster, namespace and release, and how to find each component.

With no target file the suite installs our own stack on the local kind cluster,
one namespace per défi module. A target file points it at a stack that exists
already (a group's namespace on the course cluster, or their own kind cluster).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from kubedefis.core import manifests
from kubedefis.core.errors import KubedefisError


@dataclass(frozen=True)
class Component:
    """How to find one part of the stack: a workload name and/or a pod label selector."""

    selector: str = ""  # pod label selector; the workload and Services are found from it
    name: str = ""  # Deployment/StatefulSet name, when the selector alone is ambiguous
    service: str = ""  # Service name, likewise
    # The container running the site in the component's pods, when they have several and the one
    # running gunicorn declares no port (an nginx in front that does): discover.site_container.
    container: str = ""

    def matches(self, workload_name: str, pod_labels: dict[str, str]) -> bool:
        """Whether a workload is this component: by its name when one is given, else by its pods' labels."""
        if self.name:
            return workload_name == self.name
        return manifests.selects(self.selector, pod_labels)


def _default_components() -> dict[str, Component]:
    """Our stack's components, found by label in the défi's namespace (hand-ins and chart alike)."""
    # database: the primary's workload (the one PostgreSQL of défis 3-11, the primary StatefulSet
    # of défis 12-13); database-replica: the replicas' StatefulSet; cache: Redis (défi 14).
    keys = ("site", "api", "public", "database", "database-replica", "cache")
    by_component = {key: Component(selector=f"app.kubernetes.io/component={key}") for key in keys}
    return {
        "web-nodb": Component(selector="app=web-nodb"),
        "web": Component(selector="app=csc8567"),
        **by_component,
    }


# Where the site's containers read the database connection from, as in our chart (its ConfigMap):
# setting -> environment variable. A group's target file names its own (e.g. host: DB_HOST).
DATABASE_ENV = {"host": "POSTGRES_HOST", "port": "POSTGRES_PORT", "name": "POSTGRES_DB", "user": "POSTGRES_USER"}
DATABASE_SETTINGS = tuple(DATABASE_ENV)
# How a backup file is put back (défi 16), as our chart's backups are restored: a shell command run by a
# Job made from the backup CronJob's pod (its image, credentials, volume and network access), {file}
# replaced by the backup's path in that pod. Our CronJob writes pg_dump's custom format and gives the
# libpq variables (PGHOST, PGUSER, PGPASSWORD, PGDATABASE). The pod is new: a NetworkPolicy agent may take
# a while to let it reach PostgreSQL, so it first waits for the server (pg_isready, 90 s at most).
BACKUP_RESTORE = (
    "for try in $(seq 45); do pg_isready -q -t 2 && break; sleep 2; done; "
    'pg_restore --clean --if-exists --single-transaction --exit-on-error --no-owner --dbname="$PGDATABASE" {file}'
)
# Where the site's containers read their per-client limits from (défi 18), as in our chart: each
# must be a number > 0. A group whose limits are no environment settings (an Ingress annotation,
# a decorator) gives `limits_env: {}`: défi 18's attack then proves them alone.
LIMITS_ENV = {
    "rate": "DJANGO_RATELIMIT_RATE",
    "concurrency": "DJANGO_CLIENT_MAX_CONCURRENCY",
    "body_timeout": "DJANGO_BODY_TIMEOUT",
}


# The site contract: what the suite asks of the site itself (each group writes its own Django project;
# the course defines no API). Our site's (workloads/site, app garage) by default; a group's target file
# names its own. One meaning per key:
SITE = {
    "api_list": "/api/cars",  # GET: an API list of the site's objects, its largest (JSON)
    "public_page": "/voitures/",  # GET: a page of the public app (HTML)
    "api_probe": "/api/stats",  # GET: an inexpensive API read that needs the database
    "api_write": "POST /api/garages",  # a write the API refuses anonymously and accepts with the token
    "api_write_body": '{"name": "Garage kubedefis {unique}", "city": "Évry"}',  # its JSON, {unique}: a fresh word
}
SITE_PATHS = ("api_list", "public_page", "api_probe")
# How the harness hands the contract to the load scripts (loadtests/site_locustfile.py, loadtests/attack.py).
SITE_ENV = {
    "api_list": "KUBEDEFIS_API_LIST",
    "public_page": "KUBEDEFIS_PUBLIC_PAGE",
    "api_probe": "KUBEDEFIS_API_PROBE",
    "api_write": "KUBEDEFIS_API_WRITE",
    "api_write_body": "KUBEDEFIS_API_WRITE_BODY",
}
SITE_MODEL_ENV = "KUBEDEFIS_SITE"  # "garage": our site, its data model known; "contract": the contract's paths only


def with_query(path: str, query: str) -> str:
    """`path` with `query` (`a=1&b=2`) added to its own, if any."""
    return f"{path}{'&' if '?' in path else '?'}{query}"


@dataclass(frozen=True)
class Site:
    """The site contract of a target: its paths (ours where the target names none) and what is known.

    `ours`: the suite installed our site (no target file, or `deployed: false`), so its data model is
    known (JSON pages with `count` and `results`, `page_size`, cars and garages, its tables). On a
    deployed target the suite knows only the contract; what needs more skips with its reason.
    `named`: the keys the target file gives. A write is tried on a deployed stack only when the file
    names it: our default write means nothing to another site, and a write changes its data.
    """

    api_list: str = SITE["api_list"]
    public_page: str = SITE["public_page"]
    api_probe: str = SITE["api_probe"]
    api_write: str = SITE["api_write"]
    api_write_body: str = SITE["api_write_body"]
    ours: bool = True
    named: frozenset[str] = frozenset()

    def knows(self, *keys: str) -> bool:
        """Whether the suite knows these parts of the site: ours, or named by the target file."""
        return self.ours or set(keys) <= self.named

    def unknown(self, *keys: str) -> str:
        """The skip reason of a check needing keys the target does not name."""
        missing = [k for k in keys if k not in self.named]
        return f"the target does not describe its site's {', '.join(missing)} (see docs/grading.md, site contract)"

    @property
    def write_method(self) -> str:
        return self.api_write.split()[0]

    @property
    def write_path(self) -> str:
        return self.api_write.split()[1]

    def write_body(self) -> tuple[str, str]:
        """(the write's JSON body, the fresh word it holds in place of {unique})."""
        word = uuid.uuid4().hex[:10]
        return self.api_write_body.replace("{unique}", word), word

    def environment(self) -> dict[str, str]:
        """The contract for the load scripts; the write only where it may be tried (see `knows`)."""
        keys = [*SITE_PATHS, *(("api_write", "api_write_body") if self.knows("api_write") else ())]
        env = {SITE_ENV[k]: getattr(self, k) for k in keys}
        env[SITE_MODEL_ENV] = "garage" if self.ours else "contract"
        return env


@dataclass(frozen=True)
class Target:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None  # None: the suite makes one namespace per défi module
    release: str = "kd"
    deployed: bool = False  # True: grade what is there, install nothing
    ingress_host: str | None = None
    ingress_address: str = "127.0.0.1"
    ingress_http_port: int = 8080
    ingress_https_port: int = 8443
    chart: str | None = None  # the stack's Helm chart, for the static checks (relative to the file)
    values: tuple[str, ...] = ()  # its values files, likewise
    # what is graded, shown in the reports (a class run otherwise names the group by the file's stem)
    group: str | None = None
    commit: str | None = None  # the commit of the group's repository that is deployed
    chart_version: str | None = None  # the version of their chart that is deployed
    # "secret/key": the Secret of the namespace holding a bearer token the suite may write with; by
    # default the first Secret with a key KUBEDEFIS_API_TOKEN (ours), else writes go anonymous
    api_token_secret: str | None = None
    # The site contract (SITE, `site`): None where the file does not say (then our site's)
    api_list: str | None = None
    public_page: str | None = None
    api_probe: str | None = None
    api_write: str | None = None  # "METHOD /path"; given with api_write_body
    api_write_body: str | None = None
    components: dict[str, Component] = field(default_factory=_default_components)
    # What the suite must know of the stack and cannot always read from its objects; our chart's
    # values by default. Each is used only where the pod spec or the Service does not say it.
    web_port: int = 5000  # défis 1-2: the port the course's page listens on (kubectl create declares none)
    site_port: int = 8000  # the port the Django containers (site, api, public) listen on
    database_port: int = 5432  # the port PostgreSQL listens on (which of its Service's ports to use)
    database_env: dict[str, str] = field(default_factory=lambda: dict(DATABASE_ENV))  # setting -> env variable
    limits_env: dict[str, str] = field(default_factory=lambda: dict(LIMITS_ENV))  # setting -> env variable
    backup_restore: str | None = None  # défi 16: the group's restore command; None: BACKUP_RESTORE (ours)
    # The group's chart at an earlier défi, for the checks that compare with it (D13.6 and D14.5: défi 11,
    # before replication and the cache): "defi11" -> its values files (relative to the file). None named:
    # the chart's values/defi11.yaml, our chart's layout (a group's chart without one: those checks skip).
    stages: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def component(self, key: str) -> Component:
        """A component with the release name filled in."""
        try:
            raw = self.components[key]
        except KeyError as exc:
            raise KubedefisError(f"the target names no component {key!r} (known: {sorted(self.components)})") from exc
        return Component(*(getattr(raw, f.name).replace("{release}", self.release) for f in fields(Component)))

    def component_of(self, workload_name: str, pod_labels: dict[str, str], among: tuple[str, ...]) -> str | None:
        """Which of these components a workload is (rendered or live), None if none."""
        return next((key for key in among if self.component(key).matches(workload_name, pod_labels)), None)

    @property
    def site(self) -> Site:
        """The site contract: the target's keys, ours where it names none."""
        named = {key: getattr(self, key) for key in SITE if getattr(self, key) is not None}
        return Site(**{**SITE, **named}, ours=not self.deployed, named=frozenset(named))

    @property
    def external(self) -> bool:
        """Graded where it stands (not our local cluster)."""
        return self.kubeconfig is not None or self.deployed


def load(path: Path) -> Target:
    """Read and validate a target file; every mistake is named with its key."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise KubedefisError(f"target file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise KubedefisError(f"target file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise KubedefisError(f"target file {path}: expected a mapping at the top level")
    known = {f.name for f in fields(Target)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise KubedefisError(f"target file {path}: unknown keys {unknown}; known keys: {sorted(known)}")
    values: dict[str, Any] = {}
    for f in fields(Target):
        if f.name not in raw:
            continue
        value = raw[f.name]
        if f.name == "components":
            values[f.name] = {**_default_components(), **_components(path, value)}
        elif f.name == "database_env":
            values[f.name] = {**DATABASE_ENV, **_env_names(path, f.name, value, DATABASE_SETTINGS)}
        elif f.name == "limits_env":  # replaces ours whole: a group may have fewer such settings
            values[f.name] = _env_names(path, f.name, value, tuple(LIMITS_ENV))
        elif f.name in ("ingress_http_port", "ingress_https_port", "web_port", "site_port", "database_port"):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
                raise KubedefisError(f"target file {path}: {f.name} must be a port number, not {value!r}")
            values[f.name] = value
        elif f.name == "values":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise KubedefisError(f"target file {path}: values must be a file name or a list of them, not {value!r}")
            values[f.name] = tuple(str((path.parent / Path(v).expanduser()).resolve()) for v in value)
        elif f.name == "api_token_secret":
            if not isinstance(value, str) or value.count("/") != 1 or not all(value.split("/")):
                raise KubedefisError(f"target file {path}: api_token_secret must be 'secret-name/key', not {value!r}")
            values[f.name] = value
        elif f.name in SITE_PATHS:
            if not isinstance(value, str) or not value.startswith("/") or re.search(r"\s", value):
                raise KubedefisError(
                    f"target file {path}: {f.name} must be a path starting with / (ours: {SITE[f.name]}), not {value!r}"
                )
            values[f.name] = value
        elif f.name == "api_write":
            parts = value.split() if isinstance(value, str) else []
            if len(parts) != 2 or parts[0] not in ("POST", "PUT", "PATCH", "DELETE") or not parts[1].startswith("/"):
                raise KubedefisError(f"target file {path}: api_write must be 'POST /path' (a write), not {value!r}")
            values[f.name] = value
        elif f.name == "api_write_body":  # JSON in a string, or a YAML mapping written as JSON
            if isinstance(value, dict | list):
                value = json.dumps(value, ensure_ascii=False)
            if not isinstance(value, str):
                raise KubedefisError(f"target file {path}: api_write_body must be JSON, not {value!r}")
            try:
                json.loads(value.replace("{unique}", "x"))
            except ValueError as exc:
                raise KubedefisError(f"target file {path}: api_write_body must be JSON: {exc}") from exc
            values[f.name] = value
        elif f.name == "stages":
            values[f.name] = _stages(path, value)
        elif f.name == "backup_restore":
            if not isinstance(value, str) or "{file}" not in value:
                raise KubedefisError(
                    f"target file {path}: backup_restore must be a shell command naming the backup as {{file}}, "
                    f"not {value!r}"
                )
            values[f.name] = value
        elif f.name == "deployed":
            if not isinstance(value, bool):
                raise KubedefisError(f"target file {path}: deployed must be true or false, not {value!r}")
            values[f.name] = value
        else:
            if value is not None and not isinstance(value, str):
                raise KubedefisError(f"target file {path}: {f.name} must be a string, not {value!r}")
            values[f.name] = value
    if ("api_write" in values) != ("api_write_body" in values):
        raise KubedefisError(
            f"target file {path}: api_write and api_write_body go together (the write, and the JSON it sends)"
        )
    for key in ("kubeconfig", "chart"):  # relative to the target file
        if values.get(key):
            values[key] = str((path.parent / Path(values[key]).expanduser()).resolve())
    return Target(**values)


STAGE_NAME = re.compile(r"defi\d+")


def _stages(path: Path, value: Any) -> dict[str, tuple[str, ...]]:
    """`stages: {defi11: [values.yaml]}`: each earlier défi's values files, resolved next to the target file."""
    if not isinstance(value, dict):
        raise KubedefisError(f"target file {path}: stages must map a défi (defi11) to values files, not {value!r}")
    stages = {}
    for name, files in value.items():
        if not isinstance(name, str) or not STAGE_NAME.fullmatch(name):
            raise KubedefisError(f"target file {path}: stages: {name!r} is not a défi's stage (defi11, say)")
        if isinstance(files, str):
            files = [files]
        if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
            raise KubedefisError(f"target file {path}: stages: {name} must name values files, not {files!r}")
        resolved = tuple((path.parent / Path(f).expanduser()).resolve() for f in files)
        missing = [str(f) for f in resolved if not f.is_file()]
        if missing:
            raise KubedefisError(f"target file {path}: stages: {name}: no such values file {missing}")
        stages[name] = tuple(str(f) for f in resolved)
    return stages


def _components(path: Path, value: Any) -> dict[str, Component]:
    if not isinstance(value, dict):
        raise KubedefisError(
            f"target file {path}: components must be a mapping of name -> {{selector, name, service, container}}"
        )
    out = {}
    for key, spec in value.items():
        if not isinstance(spec, dict) or set(spec) - {"selector", "name", "service", "container"}:
            raise KubedefisError(
                f"target file {path}: components.{key} takes the keys selector, name, service and container,"
                f" got {spec!r}"
            )
        out[key] = Component(**{k: str(v) for k, v in spec.items()})
    return out


def _env_names(path: Path, key: str, value: Any, settings: tuple[str, ...]) -> dict[str, str]:
    """`key: {setting: ENV_NAME, ...}`, checked: known settings, valid environment variable names."""
    if not isinstance(value, dict):
        raise KubedefisError(f"target file {path}: {key} must be a mapping of {list(settings)} -> environment variable")
    unknown = sorted(set(value) - set(settings))
    if unknown:
        raise KubedefisError(f"target file {path}: {key} takes the keys {list(settings)}, not {unknown}")
    for setting, name in value.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise KubedefisError(
                f"target file {path}: {key}.{setting} must be an environment variable name, not {name!r}"
            )
    return dict(value)
