"""PostgreSQL seen from outside the pods: psql through `kubectl exec`, and what défis 12-16 check.

Layered like CloudNativePG's test utilities: `Node` and its methods are primitives (no test
framework, usable by `kubedefis db`); the functions below compose them into named
measurements and assertions (`streaming_standbys`, `visibility_lag`, `write_refusal`...)
that the conformance modules call. Every wait goes through `wait_for`.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubedefis.core import kube, manifests
from kubedefis.core.errors import KubedefisError
from kubedefis.core.findings import Finding
from kubedefis.core.shell import run
from kubedefis.core.waits import Check, WaitTimeout, wait_for

PROBE_TABLE = "kubedefis_probe"
_LSN = re.compile(r"^([0-9A-Fa-f]+)/([0-9A-Fa-f]+)$")


class PsqlError(KubedefisError):
    """psql exited with an error; `output` is what it printed."""

    def __init__(self, pod: str, query: str, output: str) -> None:
        self.output = output
        super().__init__(f"psql in {pod} failed: {output.strip()[-800:]}\nquery: {query.strip()[:300]}")


def lsn(text: str) -> int:
    """A PostgreSQL LSN (`16/B374D848`) as a number; empty or NULL is 0."""
    match = _LSN.match(text.strip())
    return (int(match.group(1), 16) << 32) + int(match.group(2), 16) if match else 0


def slot_name(pod: str) -> str:
    """The replication slot of a pod, as the image's entrypoint names it."""
    return re.sub(r"[^a-z0-9_]", "_", pod.lower())[:63]


# psql in a group's database container, over its local socket. Our image runs as postgres (its own
# role); the official `postgres` image runs `kubectl exec` as root, and psql would ask for a role
# "root" that does not exist: as root, connect as the image's superuser (PGUSER, else POSTGRES_USER,
# the official image's variable, else postgres).
_PSQL_AS_IMAGE_USER = (
    'if [ "$(id -u)" = 0 ]; then exec psql -U "${PGUSER:-${POSTGRES_USER:-postgres}}" "$@"; fi; exec psql "$@"'
)


def psql_command(*args: str) -> list[str]:
    """The command that runs psql with `args` in a database container, as the image's database user."""
    return ["sh", "-c", _PSQL_AS_IMAGE_USER, "psql", *args]


@dataclass(frozen=True)
class Node:
    """One container of a pod, reached with `kubectl exec`: PostgreSQL's (psql over its local socket).

    Build a PostgreSQL node with `node` or `pod_node`, which find the container from the pod
    itself: a group names it as it likes (`db`, `postgres`, `bdd`...), never as our chart does.
    """

    kubectl: tuple[str, ...]
    namespace: str
    pod: str
    container: str

    def exec(self, *command: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        args = [*self.kubectl, "-n", self.namespace, "exec", "-i", self.pod, "-c", self.container, "--", *command]
        return run(args, input=input, check=False, timeout=timeout)

    def sql(self, query: str, *, database: str = "postgres", timeout: float = 60) -> list[list[str]]:
        """Rows of a query (tab-separated fields); raises PsqlError with psql's message."""
        done = self.exec(
            *psql_command("-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", database),
            input=query, timeout=timeout,
        )  # fmt: skip
        if done.returncode != 0:
            raise PsqlError(self.pod, query, done.stderr + done.stdout)
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    def value(self, query: str, *, database: str = "postgres", timeout: float = 60) -> str:
        rows = self.sql(query, database=database, timeout=timeout)
        return rows[0][0] if rows and rows[0] else ""

    def in_recovery(self) -> bool:
        return self.value("SELECT pg_is_in_recovery()") == "t"


# PostgreSQL's own port: the database port when the target names none (Target.database_port's default).
DEFAULT_PORT = 5432
# What a PostgreSQL container names in its image, command or args (postgres, postgresql, bitnami/postgresql,
# cloudnative-pg/postgresql, a `postgres -c ...` command).
_NAMES_POSTGRES = re.compile(r"postgres", re.IGNORECASE)


def _names_postgres(container: Mapping[str, Any]) -> bool:
    words = [str(container.get("image") or ""), *map(str, container.get("command") or [])]
    return any(_NAMES_POSTGRES.search(w) for w in [*words, *map(str, container.get("args") or [])])


def runs_postgres(workload: Mapping[str, Any]) -> bool:
    """A rendered workload that runs a PostgreSQL server: a container whose image's repository names
    postgres (postgres:16, bitnami/postgresql, kubedefis/postgres) or whose command is the server
    (postgres, pg_ctl). Stricter than `_names_postgres`: a site's command that exports POSTGRES_HOST
    is a client of the database, not one."""
    for container in manifests.containers(dict(workload)):
        repository = str(container.get("image") or "").rsplit("/", 1)[-1].split("@")[0].split(":")[0]
        first = next(iter(container.get("command") or container.get("args") or []), "")
        if "postgres" in repository.lower() or str(first).rsplit("/", 1)[-1] in ("postgres", "pg_ctl"):
            return True
    return False


def _ports(container: Mapping[str, Any]) -> set[int]:
    return {int(p["containerPort"]) for p in container.get("ports") or [] if p.get("containerPort") is not None}


def postgres_container(pod_spec: Mapping[str, Any], port: int | None = DEFAULT_PORT, *, pod: str = "the pod") -> str:
    """The name of the container of a pod spec (a dict, as `manifests.live` gives it) that runs PostgreSQL.

    Groups name it as they like, and may put a sidecar beside it (an exporter whose image names
    postgres too, a pgbouncer on another port). The first of these that finds any container
    decides, and must find exactly one:
    1. the containers naming postgres (image, command or args) that declare the database port;
    2. those naming postgres that declare no port at all (a sidecar declares its own);
    3. those naming postgres;
    4. those declaring the database port;
    5. the pod's containers (so: its only one).
    """
    port = DEFAULT_PORT if port is None else port
    containers = [c for c in pod_spec.get("containers") or [] if c.get("name")]
    names = [c for c in containers if _names_postgres(c)]
    tiers = (
        [c for c in names if port in _ports(c)],
        [c for c in names if not _ports(c)],
        names,
        [c for c in containers if port in _ports(c)],
        containers,
    )
    found = next((tier for tier in tiers if tier), [])

    def described(items: Iterable[Mapping[str, Any]]) -> str:
        return ", ".join(
            f"{c['name']} (image {c.get('image') or '?'}, ports {sorted(_ports(c)) or 'none'})" for c in items
        )

    if len(found) == 1:
        return str(found[0]["name"])
    if not found:
        raise KubedefisError(f"{pod} has no container: no PostgreSQL to reach")
    if found is containers:
        raise KubedefisError(
            f"no container of {pod} names postgres (image, command, args) or declares the database port {port}, "
            f"and it has several: {described(containers)}"
        )
    raise KubedefisError(
        f"several containers of {pod} could be PostgreSQL (naming postgres or declaring port {port}): "
        f"{described(found)}; give the database's port in the target (database_port)"
    )


def postgres_containers(workload: Mapping[str, Any], port: int | None = DEFAULT_PORT) -> list[dict[str, Any]]:
    """A rendered workload's PostgreSQL container (what a database requirement is about: a sidecar beside
    it, an exporter, is not), or all of its containers when which one it is cannot be told."""
    containers = manifests.containers(dict(workload))
    try:
        name = postgres_container(manifests.pod_spec(dict(workload)), port, pod=manifests.name_of(dict(workload)))
    except KubedefisError:
        return containers
    return [c for c in containers if c.get("name") == name]


def pod_node(kubectl: Sequence[str], k: kube.Kube, namespace: str, pod: Any, *, port: int | None = None) -> Node:
    """The one way to reach a PostgreSQL pod: `pod` is its name (read from the API) or the pod itself
    (a client model or a dict); its container is found from its spec (`postgres_container`)."""
    if isinstance(pod, str):
        pod = k.core.read_namespaced_pod(pod, namespace)
    obj = pod if isinstance(pod, dict) else manifests.live(pod)
    name = str(obj["metadata"]["name"])
    return Node(tuple(kubectl), namespace, name, postgres_container(obj.get("spec") or {}, port, pod=f"pod {name}"))


def node(cluster: Any, namespace: str, pod: Any, *, port: int | None = None) -> Node:
    """A PostgreSQL Node from the suite's cluster handle (its kubectl flags and client); see `pod_node`."""
    return pod_node(cluster.kubectl_command(), cluster.kube, namespace, pod, port=port)


# --- the site's tables: whatever the group's Django project made ----------------------------------


def quote_ident(name: str) -> str:
    """An SQL identifier, always quoted: a group's table may be named anything (`order`, `Voiture`)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, order=True)
class Table:
    """A table of the site's database, by schema and name."""

    schema: str
    name: str

    @property
    def sql(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


# Every group's Django project has its own apps and tables: the site's tables are read from its database,
# never named. Base tables (partitioned ones included, their partitions not: the parent holds their rows)
# outside PostgreSQL's own schemas, and not an extension's (CREATE EXTENSION makes and fills them, a dump
# does not carry their rows).
SITE_TABLES_QUERY = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (
    SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  )
ORDER BY 1, 2
"""


def is_system_schema(schema: str) -> bool:
    """PostgreSQL's own schemas (pg_catalog, information_schema, pg_toast, pg_temp_N...): never a site's."""
    return schema in ("pg_catalog", "information_schema") or schema.startswith("pg_")


def site_tables(rows: Iterable[Sequence[str]]) -> tuple[Table, ...]:
    """The tables of (schema, name) rows (SITE_TABLES_QUERY's), without PostgreSQL's own, sorted, once each."""
    found = {Table(r[0], r[1]) for r in rows if len(r) >= 2 and r[0] and r[1] and not is_system_schema(r[0])}
    return tuple(sorted(found))


def tables_of(node_: Node, database: str) -> tuple[Table, ...]:
    """The site's tables, as its database has them now."""
    return site_tables(node_.sql(SITE_TABLES_QUERY, database=database))


def _per_table(node_: Node, database: str, tables: Sequence[Table], expression: str) -> dict[str, str]:
    """One value per table (an expression over its rows `t`), in one psql call; a table that does not exist
    (any more) is "missing" rather than an error, so that a comparison says which ones."""
    if not tables:
        return {}
    exists = " UNION ALL ".join(f"SELECT {i}, to_regclass({literal(t.sql)}) IS NOT NULL" for i, t in enumerate(tables))
    present = {int(r[0]) for r in node_.sql(exists, database=database) if r[1] == "t"}
    out = {str(t): "missing" for i, t in enumerate(tables) if i not in present}
    # Rows are named by their index: a table's name may hold a tab or a newline, psql's separators here.
    parts = [f"SELECT {i}, ({expression})::text FROM {t.sql} t" for i, t in enumerate(tables) if i in present]
    if parts:
        for row in node_.sql(" UNION ALL ".join(parts), database=database):
            out[str(tables[int(row[0])])] = row[1] if len(row) > 1 else ""
    return {str(t): out[str(t)] for t in tables}


def literal(text: str) -> str:
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def fingerprint(node_: Node, database: str, tables: Sequence[Table]) -> dict[str, str]:
    """`rows:md5 of every row in text order` per table (table name as `schema.name`): equal = the same bytes.
    "missing" for a table that is not there."""
    expression = "count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '')"
    return _per_table(node_, database, tables, expression)


def row_counts(node_: Node, database: str, tables: Sequence[Table]) -> dict[str, int]:
    """Rows per table (`schema.name`); -1 for a table that is not there."""
    counts = _per_table(node_, database, tables, "count(*)")
    return {name: int(value) if value.isdigit() else -1 for name, value in counts.items()}


def emptied(fingerprints: Mapping[str, str]) -> dict[str, str]:
    """The tables of a fingerprint that still hold rows (neither empty nor missing): what a destruction missed."""
    return {t: f for t, f in fingerprints.items() if f != "missing" and not f.startswith("0:")}


def rows_lost(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """The tables with fewer rows after than before (a table gone counts -1): (before, after)."""
    return {t: (n, after.get(t, -1)) for t, n in before.items() if after.get(t, -1) < n}


def unchanged(before: Mapping[str, str], during: Mapping[str, str], *, always: Iterable[str] = ()) -> list[str]:
    """The tables whose fingerprint did not change between two readings (and those in `always`, whatever).

    A table the running site writes on its own (sessions, a visit counter) changes while a backup runs:
    it cannot be compared byte for byte with what the backup holds. A table only the suite writes is in
    `always`: it is compared in any case.
    """
    keep = set(always)
    return [t for t in before if t in keep or during.get(t) == before[t]]


def differences(
    before: Mapping[str, str], after: Mapping[str, str], compared: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """The compared tables whose fingerprint differs (a table gone is "missing"): (before, after)."""
    return {t: (before[t], after.get(t, "missing")) for t in compared if after.get(t, "missing") != before[t]}


# Django's own tables (the framework's, in every project): a lost row is looked for in the project's
# tables first, then in its users; a lost migration record (django_*) is no lost data.
DJANGO_PREFIXES = ("django_", "auth_")
SUITE_PREFIX = "kubedefis_"  # the suite's own probe tables


def row_loss_candidates(tables: Iterable[Table], unreferenced: Iterable[Sequence[str]]) -> list[Table]:
    """The site's tables a row may be deleted from, in the order to try: those no foreign key references
    (`unreferenced`: their (schema, name) rows), so that deleting is a loss and nothing else; the project's
    own tables first, then auth_user; never a django_* table nor one of the suite's."""
    free = {Table(r[0], r[1]) for r in unreferenced if len(r) >= 2}
    usable = [t for t in tables if t in free and not t.name.startswith(SUITE_PREFIX)]
    own = sorted(t for t in usable if not t.name.startswith(DJANGO_PREFIXES))
    return own + sorted(t for t in usable if t.name == "auth_user")


# --- replication state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Standby:
    """One row of pg_stat_replication on the primary."""

    name: str
    address: str
    state: str
    sync_state: str
    replay_lag_bytes: int


def standbys(primary: Node) -> list[Standby]:
    rows = primary.sql(
        "SELECT application_name, coalesce(host(client_addr), ''), state, sync_state,"
        " coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint"
        " FROM pg_stat_replication ORDER BY application_name"
    )
    return [Standby(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]


def streaming_standbys(primary: Node, replica_pods: Sequence[Any]) -> list[Finding]:
    """Every replica pod (by its IP) appears in the primary's pg_stat_replication as `streaming`."""
    found = {s.address: s for s in standbys(primary)}
    findings = []
    for pod in replica_pods:
        ip = pod.status.pod_ip
        standby = found.get(ip)
        where = f"pg_stat_replication on {primary.pod}"
        if standby is None:
            seen = ", ".join(f"{s.name}@{s.address}={s.state}" for s in found.values()) or "no standby"
            findings.append(Finding(where, f"a standby from {pod.metadata.name} ({ip})", seen))
        elif standby.state != "streaming":
            findings.append(Finding(where, f"{pod.metadata.name} streaming", standby.state))
    return findings


def wait_streaming(primary: Node, replica_pods: Any, *, timeout: float, evidence: Any = None) -> list[Standby]:
    """Until every replica pod streams from the primary; `replica_pods` is a callable giving the pods."""

    def poll() -> Check[list[Standby]]:
        pods = replica_pods()
        findings = streaming_standbys(primary, pods)
        state = "; ".join(str(f) for f in findings) or f"{len(pods)} replicas streaming"
        return Check(bool(pods) and not findings, standbys(primary), state)

    found = wait_for(
        f"every replica to stream from {primary.pod}", poll, timeout=timeout, interval=2.0, evidence=evidence
    )
    return found or []


def wal_positions(replica: Node) -> tuple[bool, int, int]:
    """(in recovery, received LSN, replayed LSN) of a node."""
    row = replica.sql(
        "SELECT pg_is_in_recovery(), coalesce(pg_last_wal_receive_lsn()::text, ''),"
        " coalesce(pg_last_wal_replay_lsn()::text, '')",
        timeout=15,
    )[0]
    return row[0] == "t", lsn(row[1]), lsn(row[2])


# --- probe rows: written on the primary, looked for on the replicas -------------------------------


def ensure_probe_table(primary: Node, database: str) -> None:
    primary.sql(
        f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (id bigserial PRIMARY KEY, token text UNIQUE NOT NULL,"
        " payload text, written timestamptz NOT NULL DEFAULT clock_timestamp())",
        database=database,
    )


def wait_table_on(replicas: Sequence[Node], database: str, table: str, timeout: float) -> None:
    def poll() -> Check[None]:
        missing = [
            r.pod for r in replicas if r.value(f"SELECT to_regclass('{table}') IS NOT NULL", database=database) != "t"
        ]
        return Check(not missing, None, f"table {table} not yet on {missing}" if missing else "everywhere")

    wait_for(f"table {table} on every replica", poll, timeout=timeout, interval=0.5)


_WATCH = """
DO $$
DECLARE deadline timestamptz := clock_timestamp() + interval '{seconds} seconds';
BEGIN
  LOOP
    -- a new snapshot at each statement: rows appear as the standby replays them
    IF EXISTS (SELECT 1 FROM {table} WHERE token = '{token}') THEN
      RAISE NOTICE 'kubedefis-seen %', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US');
      RETURN;
    END IF;
    IF clock_timestamp() > deadline THEN
      RAISE EXCEPTION 'kubedefis-not-seen after {seconds} s';
    END IF;
    PERFORM pg_sleep(0.005);
  END LOOP;
END $$;
"""


@dataclass
class Visibility:
    """When a row committed on the primary became visible on each replica (server clocks)."""

    written: float  # epoch seconds, primary's clock_timestamp() at the insert
    seen: dict[str, float] = field(default_factory=dict)  # pod -> epoch seconds, replica's clock
    errors: dict[str, str] = field(default_factory=dict)

    def lag(self) -> dict[str, float]:
        return {pod: max(0.0, at - self.written) for pod, at in self.seen.items()}


def _epoch(text: str) -> float:
    from datetime import datetime, timezone

    return datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()  # noqa: UP017


def visibility_lag(primary: Node, replicas: Sequence[Node], database: str, *, timeout: float) -> Visibility:
    """Write one probe row on the primary and time its arrival on every replica.

    Each replica runs a server-side loop (a DO block) that notes the moment the row becomes
    visible, so the figure is the replication delay, not kubectl's. The loops are started and
    seen running (pg_stat_activity) before the row is written.
    """
    ensure_probe_table(primary, database)
    wait_table_on(replicas, database, PROBE_TABLE, timeout)
    token = uuid.uuid4().hex
    watch = _WATCH.format(seconds=int(timeout) + 5, table=PROBE_TABLE, token=token)
    procs = {}
    for replica in replicas:
        command = [*replica.kubectl, "-n", replica.namespace, "exec", "-i", replica.pod, "-c", replica.container]
        command += ["--", *psql_command("-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database)]
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdin is not None
        proc.stdin.write(watch)
        proc.stdin.close()
        procs[replica.pod] = proc
    try:

        def watching() -> Check[None]:
            waiting = []
            for replica in replicas:
                running = replica.value(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%kubedefis-seen%'"
                    f" AND query LIKE '%{token}%' AND pid <> pg_backend_pid()"
                )
                if running != "1":
                    waiting.append(replica.pod)
            return Check(not waiting, None, f"watch loop not running yet on {waiting}" if waiting else "watching")

        wait_for("the watch loops on every replica", watching, timeout=timeout + 30, interval=0.3)
        written = primary.value(
            f"INSERT INTO {PROBE_TABLE} (token) VALUES ('{token}')"
            " RETURNING extract(epoch FROM written)::numeric(20,6)",
            database=database,
        )
        result = Visibility(float(written))

        def finished() -> Check[None]:
            running = [pod for pod, proc in procs.items() if proc.poll() is None]
            return Check(not running, None, f"still waiting on {running}" if running else "all done")

        wait_for("every replica's watch loop to end", finished, timeout=timeout + 30, interval=0.2)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    for pod, proc in procs.items():
        assert proc.stderr is not None
        err = proc.stderr.read()
        match = re.search(r"kubedefis-seen (\S+)", err)
        if match:
            result.seen[pod] = _epoch(match.group(1))
        else:
            result.errors[pod] = err.strip()[-500:] or f"psql exited {proc.returncode}"
    return result


def write_refusal(replica: Node, database: str) -> str:
    """Try a write on a replica; returns PostgreSQL's refusal, raises if the write went through."""
    token = uuid.uuid4().hex
    try:
        replica.sql(f"INSERT INTO {PROBE_TABLE} (token) VALUES ('refused-{token}')", database=database)
    except PsqlError as exc:
        return exc.output.strip()
    raise AssertionError(f"{replica.pod} accepted a write: a replica must be read-only")


def count_token(node_: Node, database: str, token: str) -> int:
    return int(node_.value(f"SELECT count(*) FROM {PROBE_TABLE} WHERE token = '{token}'", database=database) or 0)


def insert_token(primary: Node, database: str, token: str) -> None:
    ensure_probe_table(primary, database)
    primary.sql(f"INSERT INTO {PROBE_TABLE} (token) VALUES ('{token}')", database=database)


# --- pods and claims ------------------------------------------------------------------------------


def pod_claims(pod: Any) -> list[str]:
    return [v.persistent_volume_claim.claim_name for v in pod.spec.volumes or [] if v.persistent_volume_claim]


UNBOUND_GRACE = 30.0  # seconds a new claim may stay unprovisioned under a scheduled pod before the pod is remade


def rebuild(k: kube.Kube, namespace: str, pod_name: str, *, timeout: float) -> Any:
    """Delete a StatefulSet pod and its claims; wait for a new pod, Ready, on new claims.

    The claims are deleted first (they stay Terminating while the pod holds them), then the
    pod. If the StatefulSet recreates the pod while an old claim is still terminating, the new
    pod cannot start (its claim is going away and the controller does not remake it for an
    existing pod): such a pod is deleted once more, and the controller then makes both anew.
    The same, once per claim, when the new pod is on a node and its new claim stays Pending: a claim
    that waits for its first consumer is provisioned on the scheduler's word (the selected-node
    annotation), which never comes for a pod scheduled before that claim existed (CI-like run,
    session 13: Pending 300 s, "PVC is not bound"; kubernetes/kubernetes#74374 and #89910).
    """
    pod = k.core.read_namespaced_pod(pod_name, namespace)
    old_uid = pod.metadata.uid
    old_claims = {}
    for name in pod_claims(pod):
        old_claims[name] = k.core.read_namespaced_persistent_volume_claim(name, namespace).metadata.uid
        k.core.delete_namespaced_persistent_volume_claim(name, namespace)
    k.core.delete_namespaced_pod(pod_name, namespace, grace_period_seconds=5)
    nudged: set[str] = set()
    unbound_since: dict[str, float] = {}  # claim uid -> when first seen Pending under a scheduled pod
    remade_for: set[str] = set()  # claim uids a pod was already remade for

    def orphaned(claim: Any, pod: Any) -> bool:
        """A new claim Pending, not provisioned for a pod that is on a node already, for UNBOUND_GRACE."""
        if claim.status.phase != "Pending" or not pod.spec.node_name:
            return False
        uid = claim.metadata.uid
        first = unbound_since.setdefault(uid, time.monotonic())
        if uid in remade_for or time.monotonic() - first <= UNBOUND_GRACE:
            return False  # once per claim: a slow provisioner is not nudged at every poll
        remade_for.add(uid)
        return True

    def poll() -> Check[Any]:
        check = replaced(k, namespace, pod_name, old_uid, old_claims)
        current: Any = check.value
        if check.done or current is None or current.metadata.uid in (old_uid, *nudged):
            return check
        if current.status.phase != "Pending":
            return check
        for name in pod_claims(current):
            try:
                claim = k.core.read_namespaced_persistent_volume_claim(name, namespace)
                going = claim.metadata.uid == old_claims.get(name) and claim.metadata.deletion_timestamp
                why = "was going away" if going else "was never provisioned for it"
                stuck = bool(going) or orphaned(claim, current)
            except Exception:
                stuck, why = True, "was gone"  # and will not come back for this pod
            if stuck:
                nudged.add(current.metadata.uid)
                k.core.delete_namespaced_pod(pod_name, namespace, grace_period_seconds=0)
                return Check(False, current, f"{check.state}; deleted it again (claim {name} {why})")
        return check

    return wait_for(
        f"{pod_name} to be rebuilt on a new volume",
        poll,
        timeout=timeout,
        interval=2.0,
        evidence=lambda: kube.evidence(k, namespace, pod_name) + "\n" + kube.pod_logs(k, namespace, tail=20),
    )


def replaced(k: kube.Kube, namespace: str, pod_name: str, old_uid: str, old_claims: dict[str, str]) -> Check[Any]:
    """Done when the pod is a new one, Ready, on claims that are new too."""
    try:
        pod = k.core.read_namespaced_pod(pod_name, namespace)
    except Exception as exc:
        return Check(False, None, f"pod {pod_name}: {type(exc).__name__}")
    if pod.metadata.uid == old_uid:
        return Check(False, pod, f"pod {pod_name} is still the old one ({pod.status.phase})")
    claims = {}
    for name in pod_claims(pod):
        try:
            claim = k.core.read_namespaced_persistent_volume_claim(name, namespace)
            claims[name] = (claim.metadata.uid, claim.status.phase)
        except Exception:
            claims[name] = ("", "missing")
    stale = [n for n, (uid, _) in claims.items() if old_claims.get(n) == uid]
    ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    state = f"new pod {pod_name} {pod.status.phase} ready={ready}, claims {claims}"
    return Check(ready and not stale, pod, state + (f", old claims {stale}" if stale else ""))


# --- the failover writer --------------------------------------------------------------------------

WRITER_TABLE = "kubedefis_failover"

_WRITER_SCRIPT = f"""
set -u
until psql -X -q -v ON_ERROR_STOP=1 -c "CREATE TABLE IF NOT EXISTS {WRITER_TABLE} (
    id bigserial PRIMARY KEY, written timestamptz NOT NULL DEFAULT clock_timestamp())" 2>/dev/null; do
  sleep 0.5
done
echo "ready"
while true; do
  if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -c "INSERT INTO {WRITER_TABLE} DEFAULT VALUES
      RETURNING id, extract(epoch FROM written)::numeric(20,6)" 2>&1); then
    echo "ok $out"
  else
    echo "err $(date -u +%s.%N) $(echo "$out" | head -n 1)"
  fi
  sleep 0.05
done
"""


def writer_pod_manifest(
    name: str, namespace: str, release: str, image: str, host: str, secret: str, configmap: str, component: str
) -> dict[str, Any]:
    """A pod that inserts a row through `host` every ~50 ms and prints each acknowledged id."""
    env = [
        {"name": "PGHOST", "value": host},
        {"name": "PGCONNECT_TIMEOUT", "value": "2"},
        {"name": "PGUSER", "valueFrom": {"configMapKeyRef": {"name": configmap, "key": "POSTGRES_USER"}}},
        {"name": "PGDATABASE", "valueFrom": {"configMapKeyRef": {"name": configmap, "key": "POSTGRES_DB"}}},
        {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "POSTGRES_PASSWORD"}}},
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/instance": release, "app.kubernetes.io/component": component},
        },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 999, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "writer",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["bash", "-c", _WRITER_SCRIPT],
                    "env": env,
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": "200m", "memory": "64Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


@dataclass
class WriterLog:
    """What the writer saw: acknowledged (id, server time) pairs, and failed attempts (client time)."""

    acked: list[tuple[int, float]]
    errors: list[tuple[float, str]]

    @classmethod
    def parse(cls, text: str) -> WriterLog:
        acked, errors = [], []
        for line in text.splitlines():
            if line.startswith("ok "):
                ident, _, at = line[3:].partition("|")
                acked.append((int(ident), float(at)))
            elif line.startswith("err "):
                at, _, message = line[4:].partition(" ")
                errors.append((float(at), message))
        return cls(acked, errors)

    def largest_gap(self) -> tuple[float, int, int]:
        """(seconds, id before, id after) of the longest time between two acknowledged rows."""
        best = (0.0, 0, 0)
        ordered = sorted(self.acked)
        for (id1, t1), (id2, t2) in itertools.pairwise(ordered):
            if t2 - t1 > best[0]:
                best = (t2 - t1, id1, id2)
        return best


# The container runtime failed to start the container (runc's "unable to freeze" under load, seen
# in CI): the writer never ran, no row was written, a new pod is a clean retry.
NEVER_STARTED = ("StartError", "ContainerCannotRun")
WRITER_STARTS = 3


def _never_started(pod: Any) -> str | None:
    """The runtime's reason when the writer pod failed without its container ever running."""
    if pod.status.phase != "Failed":
        return None
    for cs in pod.status.container_statuses or []:
        ended = cs.state.terminated if cs.state else None
        if ended and ended.reason in NEVER_STARTED:
            return f"{ended.reason}: {(ended.message or '').strip()[:200]}"
    return None


def _writer_commits(k: kube.Kube, namespace: str, pod: str, *, timeout: float) -> str | None:
    """Wait until the writer pod commits rows (None); the runtime's reason if its container never started."""
    ended: list[str] = []  # why the pod ended (it will commit nothing): stops the wait at once

    def poll() -> Check[None]:
        found = k.core.read_namespaced_pod(pod, namespace)
        if found.status.phase == "Failed":
            ended.append(_never_started(found) or "the writer failed")
            return Check(False, None, f"writer {pod}: {ended[-1]}")
        text = k.core.read_namespaced_pod_log(pod, namespace) or ""
        acked = text.count("\nok ") + text.startswith("ok ")
        return Check(acked >= 5, None, f"writer {pod}: {acked} rows acknowledged")

    try:
        wait_for(
            f"writer {pod} to commit rows",
            poll,
            timeout=timeout,
            interval=1.0,
            evidence=lambda: kube.evidence(k, namespace, pod),
            fail_fast=lambda _: ended[-1] if ended else None,
        )
    except WaitTimeout:
        if ended and ended[-1].split(":")[0] in NEVER_STARTED:
            return ended[-1]
        raise
    return None


def start_writer(k: kube.Kube, namespace: str, manifest: dict[str, Any], *, timeout: float) -> None:
    """Create the writer pod and wait until it commits rows; a pod the runtime could not start is made again."""
    pod = manifest["metadata"]["name"]
    reasons = []
    for _ in range(WRITER_STARTS):
        k.core.create_namespaced_pod(namespace, manifest)
        reason = _writer_commits(k, namespace, pod, timeout=timeout)
        if reason is None:
            return
        reasons.append(reason)
        k.core.delete_namespaced_pod(pod, namespace, grace_period_seconds=0)
        wait_for(
            f"writer pod {pod} to be gone",
            lambda: Check(not any(p.metadata.name == pod for p in k.core.list_namespaced_pod(namespace).items), None),
            timeout=timeout,
        )
    raise KubedefisError(f"the writer pod {pod} never started, {WRITER_STARTS} times: {reasons}")


# --- composed assertions (défis 12 and 13 share them) ---------------------------------------------


@dataclass
class Replicated:
    """A primary workload and a replica workload in a namespace, as the conformance tests see them."""

    cluster: Any  # the suite's ClusterHandle
    namespace: str
    primary_selector: str
    replica_selector: str
    port: int | None = None  # PostgreSQL's port in its pods (None: DEFAULT_PORT): tells its container

    def pods(self, selector: str) -> list[Any]:
        pods = self.cluster.kube.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        running = [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
        return sorted(running, key=lambda p: p.metadata.name)

    def primary(self) -> Node:
        pods = self.pods(self.primary_selector)
        assert pods, f"no running primary pod ({self.primary_selector}) in {self.namespace}"
        return node(self.cluster, self.namespace, pods[0], port=self.port)

    def replica_pods(self) -> list[Any]:
        return self.pods(self.replica_selector)

    def replicas(self) -> list[Node]:
        pods = self.replica_pods()
        assert pods, f"no running replica pod ({self.replica_selector}) in {self.namespace}"
        return [node(self.cluster, self.namespace, p, port=self.port) for p in pods]

    def evidence(self) -> str:
        k = self.cluster.kube
        return kube.evidence(k, self.namespace) + "\n" + kube.pod_logs(k, self.namespace, self.replica_selector, 15)

    def assert_streaming(self, timeout: float) -> list[Standby]:
        """Every replica pod streams from the primary (waits up to `timeout` for one that reconnects)."""
        return wait_streaming(self.primary(), self.replica_pods, timeout=timeout, evidence=self.evidence)

    def assert_rows_reach_replicas(self, bound: float, database: str = "postgres") -> dict[str, float]:
        """A row committed on the primary is visible on every replica within `bound` seconds."""
        seen = visibility_lag(self.primary(), self.replicas(), database, timeout=max(bound * 5, 10.0))
        assert not seen.errors, f"the row never showed on {seen.errors}"
        lags = seen.lag()
        late = {pod: round(s, 3) for pod, s in lags.items() if s > bound}
        assert not late, f"rows took more than {bound}s to reach {late} (all: {lags})"
        return lags

    def assert_replicas_refuse_writes(self, database: str = "postgres") -> dict[str, str]:
        ensure_probe_table(self.primary(), database)
        wait_table_on(self.replicas(), database, PROBE_TABLE, 30)
        refusals = {r.pod: write_refusal(r, database) for r in self.replicas()}
        bad = {pod: msg for pod, msg in refusals.items() if "read-only" not in msg}
        assert not bad, f"writes failed on replicas, but not because they are read-only: {bad}"
        return refusals

    def assert_replica_rebuilds(self, pod_name: str, timeout: float, database: str = "postgres") -> float:
        """Delete a replica and its volume: it comes back from the primary, streaming, with every row."""
        primary = self.primary()
        before = uuid.uuid4().hex
        insert_token(primary, database, before)
        start = time.monotonic()
        rebuild(self.cluster.kube, self.namespace, pod_name, timeout=timeout)
        self.assert_streaming(timeout)
        seconds = time.monotonic() - start
        after = uuid.uuid4().hex
        insert_token(primary, database, after)
        rebuilt = node(self.cluster, self.namespace, pod_name, port=self.port)

        def both() -> Check[None]:
            have = {t: count_token(rebuilt, database, t) for t in (before, after)}
            return Check(all(have.values()), None, f"rows on {pod_name}: {have}")

        wait_for(f"the rows written before and after the rebuild on {pod_name}", both, timeout=30, interval=0.5)
        return seconds
